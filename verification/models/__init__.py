"""The domain models, one module per subject; importing this package registers them all."""

from .api import ApiSubmission, ApiToken, DeliveryStatus, IdempotencyKey, TokenScope, WebhookDelivery
from .archive import (ArchiveFlag, ArchiveMatch, ImageFingerprint, Notification, StabilityCheck,
                      StabilityStatus)
from .audit import AuditChainHead, AuditEvent, AuditEventQuerySet
from .cases import (Analysis, AnalysisStatus, Case, CaseImage, CaseStatus, Comment, HumanVerdict, Review, Tag,
                    Verdict)
from .datasets import SCAN_TRANSITIONS, Dataset, DatasetOrigin, ScanStatus
from .modelversions import ModelVersion
from .teams import Membership, Role, Team
from .training import (EVALUATION_TRANSITIONS, TRAINING_TRANSITIONS, EvaluationSource, EvaluationStatus, ModelEvaluation,
                       TrainingRun, TrainingStatus)

__all__ = [
    "EVALUATION_TRANSITIONS", "SCAN_TRANSITIONS", "TRAINING_TRANSITIONS", "ScanStatus",
    "Analysis", "AnalysisStatus", "ApiSubmission", "ApiToken", "AuditChainHead", "AuditEvent", "AuditEventQuerySet", "Case",
    "CaseImage", "CaseStatus", "Comment", "Dataset", "DatasetOrigin", "DeliveryStatus", "EvaluationSource",
    "EvaluationStatus", "HumanVerdict", "IdempotencyKey", "Membership", "ModelEvaluation", "ModelVersion", "Review", "Role", "Tag",
    "Team", "TokenScope", "ArchiveFlag", "ArchiveMatch", "ImageFingerprint", "Notification",
    "StabilityCheck", "StabilityStatus", "TrainingRun", "TrainingStatus", "Verdict", "WebhookDelivery",
]

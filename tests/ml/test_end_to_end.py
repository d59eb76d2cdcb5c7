"""A tiny end-to-end run: generate demo pairs, train ResNet50 for a few steps, evaluate on the
held-out test split, and beat chance by a margin. Fixed seeds make it repeat on one machine, not
across CPUs, thread counts or training precisions (each changes the rounding and so the trained
weights), so the bounds are set for every outcome measured, not for one lucky seed."""

from ml.config import PreprocessConfig, TrainConfig
from ml.data.demo import generate_demo_dataset
from ml.evaluate import evaluate
from ml.train import train


def test_a_few_training_steps_on_demo_pairs_beat_chance_on_the_test_split(tmp_path):
    data = generate_demo_dataset(tmp_path / "data", pairs=128, size=64, seed=7)
    config = TrainConfig(data=str(data), out_dir=str(tmp_path / "run"), epochs=8, batch_size=32, lr=1e-3,
                         seed=0, device="cpu", preprocess=PreprocessConfig(input_size=64, train_crop=48))
    run = train(config, show_bar=False)
    result = evaluate(run.checkpoint, data, split="test", device="cpu")
    assert result["n"] >= 32
    # Chance is 0.5 (the test split holds whole real/synthetic pairs, so it is balanced). With 64
    # pairs (18 test images) one image decided it: on 2026-11-28 (Zen 4 EPYC, AVX512-BF16) fp32 and
    # bf16 training gave accuracy 0.667-0.778 over seeds 0-3, below a 0.7 bound on three of eight.
    # With 128 pairs (36 test images), same day, seeds 0-3, one thread: accuracy 0.694-0.917 and
    # ROC-AUC 0.904-0.997 in fp32 and bf16. A coin-flipping model reaches accuracy 0.65 (24/36) with
    # probability about 3 %, and ROC-AUC 0.85 far less often.
    assert result["accuracy"] >= 0.65, result
    assert result["roc_auc"] >= 0.85, result

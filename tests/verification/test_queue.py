"""What the web process hands to the broker."""

from verification import queue


class _Broker:
    def __init__(self, down_for: set[int] = frozenset()):  # type: ignore[assignment]
        self.sent: list[tuple[str, list, dict, str]] = []
        self.down_for = down_for

    def send_task(self, name, args, kwargs, queue):  # type: ignore[no-untyped-def]
        if args[0] in self.down_for:
            raise ConnectionError("broker unreachable")
        self.sent.append((name, args, kwargs, queue))


def test_a_submission_is_sent_as_one_message_per_batch(monkeypatch, settings):
    settings.VERITY_BATCH_SIZE = 3
    monkeypatch.undo()  # the real queue functions, not conftest's recorder
    broker = _Broker()
    monkeypatch.setattr(queue, "current_app", broker)
    assert queue.enqueue_analyses([11, 12, 13, 14, 15, 16, 17]) == 7
    assert broker.sent == [
        (queue.ANALYSE_TASK, [11], {"batch_ids": [12, 13]}, "inference"),
        (queue.ANALYSE_TASK, [14], {"batch_ids": [15, 16]}, "inference"),
        (queue.ANALYSE_TASK, [17], {}, "inference"),
    ]


def test_a_broker_outage_reports_only_what_was_handed_over(monkeypatch, settings):
    settings.VERITY_BATCH_SIZE = 2
    monkeypatch.undo()
    broker = _Broker(down_for={3})
    monkeypatch.setattr(queue, "current_app", broker)
    assert queue.enqueue_analyses([1, 2, 3, 4, 5]) == 3  # the batch starting at 3 stays for the sweeper
    assert [args for _, args, _, _ in broker.sent] == [[1], [5]]

"""The command processor's rules without a broker (issue 8 items 3, 9, 10): what each
command emits and how the posting's control record (cancel epoch, handled ids) moves.
The control store and the stage-topic lookup are small in-memory stand-ins with the
same methods; everything the handler produces is encoded and decoded for real."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml

from consumers.cancel import control_record
from consumers.commands import CommandHandler
from consumers.worker import StageHandler
from consumers.actors.script import ScriptActor
from consumers.workflow import load_workflow
from tests.unit.test_worker_handler import CODEC, NOW, Clock, _command, _decode, _types
from wavestream.events import event_id

pytestmark = pytest.mark.unit

WORKFLOW = {
    "name": "cmds",
    "entry_points": [{"when": "*", "stage": "review"}],
    "stages": {
        "review": {"actor": {"kind": "human"}, "prompt": "ok?",
                   "branches": [{"when": "approve", "next": "publish"}, {"when": "*", "next": "done"}]},
        "publish": {"actor": {"kind": "script", "callable": "echo"}, "branches": [{"when": "*", "next": "done"}]},
    },
}


class Store:
    """In-memory control records with CancelRegistry's interface."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.reloads: list[int] = []

    def get(self, posting_id):
        return self.records.get(posting_id)

    def put(self, partition, record):
        self.records[record["posting_id"]] = record

    def reload_partition(self, partition):
        self.reloads.append(partition)

    def is_cancelled(self, posting_id, epoch=0):
        r = self.records.get(posting_id)
        return r is not None and r["cancelled"] and epoch <= r["epoch"]


class Lookup:
    def __init__(self, parked: dict | None) -> None:
        self.parked = parked

    def latest(self, stage, posting_id, partition_hint=None):
        return self.parked if self.parked and self.parked["stage"] == stage else None


@dataclass
class Msg:
    offset_: int
    partition_: int = 0

    def offset(self):
        return self.offset_

    def partition(self):
        return self.partition_


@pytest.fixture
def workflow(tmp_path):
    path = tmp_path / "cmds.yaml"
    path.write_text(yaml.safe_dump(WORKFLOW))
    return load_workflow(path)


class Processor:
    def __init__(self, workflow, parked=None):
        self.store = Store()
        self.handler = CommandHandler(workflow, CODEC, "cp-1", Lookup(parked), self.store, clock=Clock())
        self.offset = 0

    def send(self, action, command_id=None, **fields):
        self.offset += 1
        command = {"command_id": command_id or f"cmd-{self.offset}", "posting_id": "p1", "action": action,
                   "stage": None, "decision": None, "reason": None, "issued_by": "tester",
                   "issued_at": int(NOW * 1000), "correlation_id": None, **fields}
        return _decode(self.handler.handle(Msg(self.offset), command))


def _events(decoded, event_type):
    return [v for topic, v in decoded if topic == "events" and v["event_type"] == event_type]


def _control(decoded):
    (record,) = [v for topic, v in decoded if topic == "commands.state.cmds"]
    return record


def test_unknown_stage_and_nothing_to_rerun_become_command_rejected(workflow):
    p = Processor(workflow)
    bad = p.send("rerun", stage="no_such_stage")
    assert _types(bad) == ["CommandRejected", "cmd:commands.state.cmds"]
    assert "no stage 'no_such_stage'" in _events(bad, "CommandRejected")[0]["payload"]["reason"]
    assert _types(p.send("rerun", stage="publish"))[0] == "CommandRejected"  # no command of the stage


def test_decide_applies_once_per_parked_command_and_ids_derive_from_the_decision(workflow):
    parked = _command("review", posting_id="p1", command_id="parked-1")
    p = Processor(workflow, parked)
    first = p.send("decide", "d-1", stage="review", decision="approve")
    assert _types(first) == ["DecisionRecorded", "PostingRouted", "cmd:stage.publish", "cmd:commands.state.cmds"]
    recorded = _events(first, "DecisionRecorded")[0]
    assert recorded["event_id"] == event_id("d-1", 1, "DecisionRecorded", "cmds")
    assert _control(first)["decided"] == ["parked-1"]
    again = p.send("decide", "d-1", stage="review", decision="approve")  # the same command id re-sent
    assert _types(again)[0] == "CommandRejected" and "handled before" in _events(again, "CommandRejected")[0][
        "payload"]["reason"]
    other = p.send("decide", "d-2", stage="review", decision="reject")
    assert "not awaiting a decision" in _events(other, "CommandRejected")[0]["payload"]["reason"]
    # a different decision would have had other ids
    assert event_id("d-2", 1, "DecisionRecorded", "cmds") != recorded["event_id"]


def test_decide_on_a_non_human_stage_or_a_cancelled_posting_is_rejected(workflow):
    p = Processor(workflow, _command("review", posting_id="p1", command_id="parked-1"))
    assert "not a human stage" in _events(p.send("decide", stage="publish", decision="x"),
                                          "CommandRejected")[0]["payload"]["reason"]
    p.send("cancel")
    late = p.send("decide", stage="review", decision="approve")
    assert _events(late, "CommandRejected")[0]["payload"]["reason"] == "decide: the posting was cancelled"


def test_cancel_then_rerun_opens_the_next_epoch_which_workers_do_not_skip(workflow):
    p = Processor(workflow, _command("publish", posting_id="p1", command_id="old"))
    cancel = p.send("cancel")
    assert _types(cancel) == ["PostingCancelled", "cmd:commands.state.cmds"]
    assert (_control(cancel)["epoch"], _control(cancel)["cancelled"]) == (0, True)
    assert _types(p.send("cancel"))[0] == "CommandRejected"  # already cancelled
    rerun = p.send("rerun", stage="publish")
    fresh = [v for topic, v in rerun if topic == "stage.publish"][0]
    assert fresh["epoch"] == 1 and (_control(rerun)["epoch"], _control(rerun)["cancelled"]) == (1, False)
    # A worker that still only knows the cancel: skips epoch 0, runs the rerun's epoch 1.
    store = Store()
    store.put(0, control_record("p1", epoch=0, cancelled=True))
    stage = workflow.stages["publish"]
    worker = StageHandler(workflow, stage, ScriptActor(stage, workflow), CODEC, "w", is_cancelled=store.is_cancelled,
                          clock=Clock())
    assert _types(_decode(worker.handle(None, _command("publish", epoch=0)))) == ["PostingCancelled"]
    assert _types(_decode(worker.handle(None, fresh)))[0] == "InteractionCompleted"


def test_the_control_partition_is_reread_after_a_gap_or_a_rewind(workflow):
    p = Processor(workflow)
    p.send("cancel")
    p.send("rerun", stage="no_such_stage")  # follows directly: no re-read
    assert p.store.reloads == [0]
    p.offset = 0  # the loop rewound the partition after an abort
    p.send("cancel")
    assert p.store.reloads == [0, 0]


def test_the_control_topic_is_compacted_kept_forever_and_carries_posting_control():
    from wavestream.codec import record_for_topic
    from wavestream.config import KafkaSettings
    from wavestream.topics import topic_specs

    specs = {s.name: s for s in topic_specs(["a"], KafkaSettings(client={}, partitions=3), "wf")}
    control = specs["commands.state.wf"]
    assert control.config["cleanup.policy"] == "compact" and control.config["retention.ms"] == "-1"
    assert control.partitions == specs["commands"].partitions
    assert "commands.state.wf" not in {s.name for s in topic_specs(["a"], KafkaSettings(client={}, partitions=3))}
    assert record_for_topic("commands.state.wf") == "PostingControl"

"""`replay`: a recorded verify run (`verify --record`) through the same follower and conclusion, offline."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from auditor.app.inputs import baseline_of, check_target, output_dir, with_options
from auditor.app.publish import finish
from auditor.app.verify_end import Ending, VerifySettings, conclude, iso_time, latest_change, strict
from auditor.app.verify_lb import observe as observe_targets
from auditor.engine.follow import Follower
from auditor.model import InputInfo, Written
from auditor.state import recording, snapshot


def replay(settings: VerifySettings, events: Path | recording.Recording) -> Written:
    """The run's report again from its recording (a path, or one already read): the same timeline, findings and
    verdict. A recording cut short (no END record: the run was killed) is replayed up to its last event."""
    rec = recording.read(events) if isinstance(events, Path) else events
    baseline_of(settings.report)
    before = snapshot.load_inputs([str(settings.before)])
    check_target([before], settings.target, settings.config)
    output_dir(settings.report.output_dir)
    assert rec.started is not None
    follower = Follower(before, strict(with_options(settings.config, settings.target)), started=rec.listed_at)
    for kind, lines in rec.lists.items():
        if kind in follower.objects:  # a kind verify does not follow (a valid kind all the same) has no effect
            follower.load(kind, lines, rec.listed_at)
    follower.start(rec.started)
    follower.last_change = latest_change(follower.state(rec.started))
    for batch in rec.batches:  # as they were delivered: the timeline counts once per batch
        follower.apply(batch)
    observe_targets(follower.timeline, rec.targets, follower.ready_before)  # the load balancer's side, if read
    notes = list(rec.notices)
    if rec.end is None:
        end = max([rec.started] + [c.at for c in rec.changes] + [t.at for t in rec.targets])
        notes.append("the recording has no END record (the run was killed): replayed up to its last event")
        ending = Ending(end, "interrupted", False, tuple(notes))
    else:
        ending = Ending(rec.end, rec.reason, rec.settled, tuple(notes), rec.eks, left_out=rec.left_out)
    result = conclude(before, follower, settings, ending, source_info=rec.source)
    result = replace(result, inputs=result.inputs + (InputInfo(path=str(rec.path), label="events",
                                                                taken_at=iso_time(ending.at), complete=True),))
    return finish(result, settings.report)

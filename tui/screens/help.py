"""`?`: what each view answers and every key, in one screen."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# gemscope — keys

| key | what it does |
|---|---|
| `1`…`7` | Overview, Contention, Trylock failures, Finalizers, Retire worker, Shrinker, Events |
| `tab` / `shift+tab` | move focus (tabs, tables, the event list) |
| `[` / `]` | move the time window earlier / later by half its width |
| `w` | cycle the window width: whole trace, 60 s, 10 s, 1 s, 100 ms, 10 ms, 1 ms |
| `0` | the whole trace again (stops replay) |
| `space` | replay: play / pause a cursor moving through the trace (the window ends at it) |
| `+` / `-` | replay speed up / down |
| `J` | jump the window to the worst event of the current view (longest wait, free, run...) |
| `/` | Events view: edit the filter (`kind:free task:kworker obj:0x...`) |
| `enter` | Events view: open the lifecycle of the event's GEM object (`esc` to come back) |
| `?` | this help;  `q` quit |

# Views
- **Overview**: health (events, rate, lost events, probes attached and missing, what cannot be
  answered), every analysis' headline numbers, and alerts. A SYNTHETIC banner marks recordings
  made by the workload model rather than a kernel.
- **Contention**: blocking reservation-lock waits: histogram, wait time over the window, top
  locks/tasks/call sites, the holder at the time and the worst waits with their stacks.
- **Trylock failures**: failed reservation trylocks by caller, shrinker stage and holder; failures
  and failure rate over time.
- **Finalizers**: msm_gem_free_object latency by context and size class, and where frees ran.
- **Retire worker**: per-run queue delay and run time, split into finalizers / reservation waits /
  other; fence signals delayed behind finalizers.
- **Shrinker**: count/scan over time, freed vs requested, per-stage outcomes, remaining and
  trylock-skipped bytes, the active stages' fence waits, frees overlapping scans, reclaim risks,
  direct-reclaim delay per task (taskstats).
- **Events**: every event, virtual list, filterable; `enter` for the object view.

Numbers shown as `—` are unknown (not measured), never zero. "cannot answer" means the recording
lacks the events an analysis needs (a probe was missing).
"""


class HelpScreen(ModalScreen):
    """Esc, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; max-width: 95%; height: 90%;
                                  background: $panel; border: round $accent; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP, id="help-text")

"""``report.html``: one self-contained page with the episode video beside its timeline.

The video is embedded as a data URI (no server, no neighbouring files needed), the trace events
are embedded as JSON, and a few lines of plain JavaScript build the timeline: one entry per
event, clicking an entry seeks the video to that event's frame, and thoughts, prompts and
results open in full.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from embodied.core.jsonsafe import dumps

MAX_EMBEDDED_VIDEO_BYTES = 50 * 1024 * 1024

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>embodied episode: __TITLE__</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #15161a; color: #e8e8ea; }
header { padding: 12px 18px; background: #202127; }
header h1 { font-size: 17px; margin: 0 0 4px 0; }
.ok { color: #7ee08a; } .bad { color: #ff8080; }
main { display: flex; gap: 16px; padding: 16px; align-items: flex-start; }
#player { position: sticky; top: 16px; flex: 0 0 auto; }
video { width: 640px; max-width: 55vw; background: #000; }
#timeline { flex: 1 1 auto; list-style: none; margin: 0; padding: 0; max-height: 88vh; overflow-y: auto; }
#timeline li { border-left: 3px solid #444; padding: 4px 8px; margin: 0 0 4px 0; cursor: pointer; background: #1d1e24; }
#timeline li.current { border-left-color: #f5c542; background: #2a2b33; }
#timeline li .kind { font-weight: 600; margin-right: 6px; }
#timeline li .time { color: #999; font-variant-numeric: tabular-nums; margin-right: 6px; }
#timeline pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0 0 0; color: #cfd0d6; }
.k-decision .kind { color: #c9a7ff; } .k-tool_call .kind { color: #8fe3a1; }
.k-tool_result .kind { color: #7fd0ff; } .k-verification .kind { color: #f5c542; }
.k-reflection .kind { color: #ff9f80; } .k-observation .kind { color: #aaa; }
</style></head>
<body>
<header><h1>__TITLE__</h1><div>__SUMMARY__</div></header>
<main>
  <div id="player"><video id="video" controls preload="auto" src="__VIDEO__"></video></div>
  <ol id="timeline"></ol>
</main>
<script type="application/json" id="events">__EVENTS__</script>
<script>
(function () {
  "use strict";
  const fps = __FPS__;
  const events = JSON.parse(document.getElementById("events").textContent);
  const video = document.getElementById("video");
  const list = document.getElementById("timeline");
  function headline(e) {
    if (e.kind === "decision") return (e.decision && e.decision.thoughts) || "";
    if (e.kind === "tool_call") return e.name + "(" + JSON.stringify(e.arguments || {}) + ")";
    if (e.kind === "tool_result") return (e.success ? "ok: " : "failed: ") + (e.message || "");
    if (e.kind === "verification") return (e.subgoal || "") + (e.holds ? " holds" : " does not hold");
    if (e.kind === "observation" || e.kind === "reflection") return e.text || "";
    if (e.kind === "memory_recall")
      return "recalled " + ((e.skills || []).join(", ") || "no skills") + " for: " + (e.query || "");
    if (e.kind === "memory_update") {
      if (e.error) return "not stored: " + e.error;
      if (e.skill) return (e.created ? "learned " : "merged into ") + e.skill;
      const subs = (e.subgoal_skills || []).map((s) => s.skill + " (subgoal " + s.subgoal + ")");
      return subs.length ? "learned from subgoals: " + subs.join(", ") : "episode stored";
    }
    if (e.kind === "episode_end") return (e.success ? "success: " : "failed: ") + (e.reason || "");
    return e.instruction || e.error || e.query || "";
  }
  const items = events.map(function (e) {
    const li = document.createElement("li");
    li.className = "event k-" + e.kind;
    li.dataset.time = String(e.frame / fps);
    const head = document.createElement("div");
    const time = document.createElement("span");
    time.className = "time"; time.textContent = (e.frame / fps).toFixed(2) + " s";
    const kind = document.createElement("span");
    kind.className = "kind"; kind.textContent = e.kind;
    const text = document.createElement("span");
    text.textContent = headline(e).slice(0, 240);
    head.append(time, kind, text);
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = "full event";
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(e, null, 2);
    details.append(summary, pre);
    li.append(head, details);
    li.addEventListener("click", function (ev) {
      if (ev.target.closest("details")) return;
      video.currentTime = e.frame / fps;
    });
    list.append(li);
    return li;
  });
  video.addEventListener("timeupdate", function () {
    let current = null;
    for (const li of items) { if (Number(li.dataset.time) <= video.currentTime + 1e-6) current = li; }
    for (const li of items) li.classList.toggle("current", li === current);
  });
})();
</script>
</body></html>
"""


def _video_src(video: Path | None) -> str:
    if video is None or not video.is_file():
        return ""
    if video.stat().st_size > MAX_EMBEDDED_VIDEO_BYTES:
        return video.name  # too big to embed: refer to the file beside the report
    return "data:video/mp4;base64," + base64.b64encode(video.read_bytes()).decode("ascii")


def write_report(folder: Path, summary: dict[str, Any], fps: float) -> Path:
    """Write ``folder/report.html`` from ``trace.jsonl``, ``video.mp4`` and the summary."""
    trace = folder / "trace.jsonl"
    events = []
    if trace.is_file():
        for line in trace.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line after a crash: keep what is whole
    ok = bool(summary.get("success"))
    status = f'<span class="{"ok" if ok else "bad"}">{"success" if ok else "failed"}</span>'
    facts = [status, html.escape(str(summary.get("reason", "")))]
    for key in ("planner", "turns", "skill_calls", "sim_time_s", "wall_time_s"):
        if key in summary:
            facts.append(f"{key.replace('_', ' ')}: {html.escape(str(summary[key]))}")
    page = (
        _PAGE.replace("__TITLE__", html.escape(str(summary.get("instruction", "episode"))))
        .replace("__SUMMARY__", " · ".join(facts))
        .replace("__VIDEO__", _video_src(folder / "video.mp4"))
        .replace("__FPS__", json.dumps(float(fps)))
        .replace("__EVENTS__", dumps(events).replace("</", "<\\/"))
    )
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

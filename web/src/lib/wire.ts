// The labtail wire contract as TypeScript types: GENERATED from the
// server's types (crates/labtail-server/src/wire/) by a test; do not edit.
// Regenerate: LABTAIL_WRITE_WIRE_TS=1 cargo test -p labtail-server wire::typescript
// docs/protocol.md describes what each one means.

/**
 * Stable error codes. Clients switch on these; never rename one.
 */
export type Code = "unauthenticated" | "forbidden_or_missing" | "invalid_payload" | "rate_limited" | "too_many_streams" | "too_many_sockets" | "unavailable" | "forbidden" | "internal" | "invalid_credentials" | "payload_too_large" | "unknown_event" | "not_found" | "forbidden_origin" | "local_login_disabled" | "oidc_state" | "oidc_token" | "oidc_unmapped" | "oidc_unavailable" | "oidc_username" | "oidc_conflict";

/**
 * `{code, message}`: what went wrong, for a program and for a person.
 */
export type WireError = { code: Code, message: string, };

/**
 * `{ok: false, error}`: every failed Socket.IO event's acknowledgement.
 */
export type ErrorAck = { ok: false, error: WireError, };

/**
 * The HTTP error body.
 */
export type HttpErrorBody = { error: WireError, };

/**
 * The state of a container or of a watch of it: one vocabulary for every
 * answer and event. Docker's own states, plus what labtail knows:
 * `removed` (gone for good), `engine-down` (its Docker engine does not
 * answer; a watch reconnects), `unavailable` (listed from before its
 * engine went away), `waiting` (a watch waiting for it to appear).
 */
export type ContainerState = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead" | "removed" | "engine-down" | "unavailable" | "waiting";

/**
 * A container in `list-containers`, `GET /api/containers` and dashboard
 * rows. Students get only their own, so `owner` is never someone else's
 * name in a student's answer.
 */
export type Container = { 
/**
 * `name`, or `host/name` with several Docker engines.
 */
name: string, 
/**
 * Docker's ID, 12 digits as `docker ps` shows it.
 */
id: string, owner: string | null, state: ContainerState, 
/**
 * Docker's summary, e.g. `Up 5 minutes`.
 */
status: string, image: string, 
/**
 * Creation time, seconds since the epoch.
 */
created: number, 
/**
 * When its last run ended (RFC 3339), for one that is not running,
 * where known (history records it).
 */
endedAt?: string, 
/**
 * How its last run ended, where known.
 */
exitCode?: number, 
/**
 * Its course label's value, if it has one.
 */
course?: string, 
/**
 * Its lab label's value, if it has one.
 */
lab?: string, 
/**
 * Its lab's checkpoints, reached or not, where the lab has some
 * (a student's checklist).
 */
checkpoints?: Array<Checkpoint>, };

/**
 * `start-container-logs`: at most one of `tail`, `after`, `since`.
 */
export type StartPayload = { containerName: string, 
/**
 * Lines of backlog (default `--default-tail`, at most `--backlog-lines`).
 */
tail?: number, 
/**
 * A cursor: exactly the lines after it.
 */
after?: string, 
/**
 * An RFC 3339 time: from the first line stamped then or later.
 */
since?: string, 
/**
 * Seconds to wait for a container that does not exist yet.
 */
wait?: number, };

/**
 * `stop-container-logs`.
 */
export type StopPayload = { containerName: string, };

/**
 * `start-container-logs` answered.
 */
export type StartAck = { ok: true, 
/**
 * The container's own name (the request may have used an ID, a leading
 * `/` or a plain name with several engines): its events carry this one.
 */
containerName: string, 
/**
 * Absent when the socket already watched it.
 */
state?: ContainerState, 
/**
 * The backlog lines it will get, when it asked by `tail`.
 */
tail?: number, 
/**
 * Seconds it will wait for a container that is not there yet.
 */
wait?: number, alreadyWatching?: boolean, };

/**
 * `stop-container-logs` answered.
 */
export type StopAck = { ok: true, containerName: string, wasWatching: boolean, };

/**
 * `list-containers` answered.
 */
export type ListAck = { ok: true, containers: Array<Container>, };

/**
 * `watch-dashboard` answered.
 */
export type DashboardAck = { ok: true, };

/**
 * `stop-dashboard` answered.
 */
export type StopDashboardAck = { ok: true, wasWatching: boolean, };

/**
 * `stdout`, `stderr`, or `console` for a TTY container.
 */
export type Stream = "stdout" | "stderr" | "console";

/**
 * One line in `container-log`.
 */
export type WireLine = { 
/**
 * Names this line uniquely; give it back as `after` to resume.
 */
cursor: string, 
/**
 * Docker's timestamp, RFC 3339 UTC with nine fractional digits.
 */
ts: string, stream: Stream, text: string, 
/**
 * Bytes cut off a line longer than `--max-line-bytes`.
 */
truncated?: number, 
/**
 * The line's level, where it says one (JSON, logfmt, a word at its
 * start, a Python traceback).
 */
level?: LineLevel, };

/**
 * `container-log` as a plain type: what [`ContainerLog`] writes.
 */
export type ContainerLog = { containerName: string, 
/**
 * The lines' text, each followed by `\n` (the Node design's field).
 */
log: string, lines: Array<WireLine>, };

/**
 * `container-log-gap`: lines this socket did not get.
 */
export type ContainerGap = { containerName: string, 
/**
 * Cursor of the last line delivered before the gap.
 */
from: string | null, 
/**
 * Cursor of the first line delivered after it.
 */
to: string | null, 
/**
 * Lines missed; `null` when not known (a resume cursor not in the log).
 */
count: number | null, };

/**
 * `container-status`: a watched container's lifecycle changed.
 */
export type ContainerStatus = { containerName: string, state: ContainerState, exitCode?: number, 
/**
 * When a waited-for container appears: the name the client asked for.
 */
requestedName?: string, };

/**
 * Why a stream ended.
 */
export type EndReason = "exited" | "removed" | "not-found" | "unavailable" | "revoked";

/**
 * `container-log-end`.
 */
export type ContainerEnd = { containerName: string, reason: EndReason, exitCode?: number, };

/**
 * `container-renamed`: a watched container was renamed (`docker rename`).
 * Its events carry `newName` from now on.
 */
export type ContainerRenamed = { 
/**
 * The name the watch's events carried until now.
 */
containerName: string, newName: string, };

/**
 * `container-update`: a container in the user's scope changed, watched or
 * not (so lists stay current without polling).
 */
export type ContainerUpdate = { name: string, id: string, owner: string, state: ContainerState, exitCode?: number, 
/**
 * Its course label's value, if it has one.
 */
course?: string, };

/**
 * One container on the dashboard.
 */
export type DashboardRow = { linesPerSecond: number, stderrPerSecond: number, 
/**
 * Lines (and stderr lines) counted since the dashboard opened on this node.
 */
lines: number, stderrLines: number, 
/**
 * Who watches it, on every node.
 */
watchers: Array<string>, 
/**
 * The courses it counts for, for the dashboard's course filter: its
 * course label's; without one, for an instructor limited to their
 * courses, those of theirs its owner is enrolled in.
 */
courses: Array<string>, 
/**
 * `name`, or `host/name` with several Docker engines.
 */
name: string, 
/**
 * Docker's ID, 12 digits as `docker ps` shows it.
 */
id: string, owner: string | null, state: ContainerState, 
/**
 * Docker's summary, e.g. `Up 5 minutes`.
 */
status: string, image: string, 
/**
 * Creation time, seconds since the epoch.
 */
created: number, 
/**
 * When its last run ended (RFC 3339), for one that is not running,
 * where known (history records it).
 */
endedAt?: string, 
/**
 * How its last run ended, where known.
 */
exitCode?: number, 
/**
 * Its course label's value, if it has one.
 */
course?: string, 
/**
 * Its lab label's value, if it has one.
 */
lab?: string, 
/**
 * Its lab's checkpoints, reached or not, where the lab has some
 * (a student's checklist).
 */
checkpoints?: Array<Checkpoint>, };

/**
 * `dashboard`: a snapshot of every lab container, for instructors.
 */
export type Dashboard = { 
/**
 * When it was taken (RFC 3339).
 */
at: string, containers: Array<DashboardRow>, 
/**
 * Who needs help now, most urgent first (the entries of the
 * containers the viewer may see).
 */
attention: Array<AttentionEntry>, };

/**
 * Roles are fixed: they decide which containers a user may see.
 */
export type Role = "student" | "instructor" | "admin";

/**
 * `POST /api/login` and `GET /api/me`: who is logged in.
 */
export type Me = { username: string, role: Role, 
/**
 * The courses they are in (as a student or teaching), by name.
 */
courses: Array<string>, };

/**
 * `GET /api/login-options`: how the login page may sign someone in
 * (asked before anyone is logged in).
 */
export type LoginOptions = { 
/**
 * Whether the user name and password form works (`--local-login`).
 */
local: boolean, 
/**
 * The school's sign-in, when configured.
 */
oidc: OidcOption | null, };

/**
 * The school sign-in button.
 */
export type OidcOption = { 
/**
 * Its text (`--oidc-display-name`).
 */
name: string, 
/**
 * Where it goes: `/api/oidc/login`.
 */
url: string, };

/**
 * `ready` (200), `degraded` (200: a part the node can do without is
 * down), `unavailable` (503).
 */
export type ReadyStatus = "ready" | "degraded" | "unavailable";

export type UpDown = "up" | "down";

/**
 * `GET /readyz`.
 */
export type Readiness = { status: ReadyStatus, database: UpDown, 
/**
 * `up`, `starting`, `down: <why>`; with several engines `up`,
 * `degraded` (some down) or `down`, and each in `dockerHosts`.
 */
docker: string, 
/**
 * Only with `--redis-url`.
 */
redis?: UpDown, 
/**
 * Only with several Docker engines: each one's state, as `docker`.
 */
dockerHosts?: { [key in string]: string }, };

/**
 * One audit record (`GET /api/audit`, `labtail audit --json`).
 */
export type AuditRow = { id: number, at: string, kind: string, username: string, ip: string | null, container: string | null, ended_at: string | null, detail: string | null, };

/**
 * `GET /api/history/{name}/lines`: a page of a container's whole log.
 */
export type HistoryPage = { 
/**
 * The container's name now (a rename shows its new name).
 */
containerName: string, lines: Array<WireLine>, 
/**
 * The lifecycle and the gaps that fall within the page.
 */
events: Array<HistoryEvent>, 
/**
 * Older lines are kept: ask `before` this page's first cursor.
 */
moreBefore: boolean, 
/**
 * Newer lines are recorded: ask `after` this page's last cursor.
 */
moreAfter: boolean, 
/**
 * Lines retention dropped before the first one kept.
 */
pruned: number, 
/**
 * Every line recorded so far.
 */
total: number, };

/**
 * One entry of a container's timeline.
 */
export type HistoryEvent = { 
/**
 * RFC 3339.
 */
at: string, kind: HistoryEventKind, 
/**
 * The cursor of the line it comes before, in this page; `null` when
 * it comes after the page's last line.
 */
before: string | null, exitCode?: number, 
/**
 * Lines a gap lost (`null`: not known); lines retention pruned.
 */
count?: number, };

/**
 * What happened.
 */
export type HistoryEventKind = "created" | "started" | "exited" | "removed" | "renamed" | "gap" | "pruned";

/**
 * `GET /api/history/search`.
 */
export type HistorySearch = { hits: Array<SearchHit>, 
/**
 * Give it back as `after` for more; `null` when everything in range
 * was searched.
 */
next: string | null, 
/**
 * It stopped at its time budget (`--history-search-budget`), not at
 * the hit limit: `next` goes on from there.
 */
timedOut: boolean, 
/**
 * Lines searched.
 */
scanned: number, };

/**
 * A line that matched, with where it is.
 */
export type SearchHit = { containerName: string, 
/**
 * The container's ID (12 digits): also names a removed container
 * whose name was used again.
 */
containerId: string, owner: string, 
/**
 * Names this line uniquely; give it back as `after` to resume.
 */
cursor: string, 
/**
 * Docker's timestamp, RFC 3339 UTC with nine fractional digits.
 */
ts: string, stream: Stream, text: string, 
/**
 * Bytes cut off a line longer than `--max-line-bytes`.
 */
truncated?: number, 
/**
 * The line's level, where it says one (JSON, logfmt, a word at its
 * start, a Python traceback).
 */
level?: LineLevel, };

/**
 * Why a student may need help.
 */
export type AttentionSignal = "crashed" | "oom" | "restart-loop" | "unhealthy" | "error-burst" | "silent" | "runaway" | "rule" | "hand";

export type Severity = "error" | "warning" | "info";

export type EntryState = "open" | "acknowledged";

/**
 * A line an entry points at (open it with a permalink: its cursor).
 */
export type Evidence = { cursor: string, ts: string, stream: string, text: string, };

/**
 * One entry: a student's container and a signal, most urgent first.
 */
export type AttentionEntry = { id: number, signal: AttentionSignal, severity: Severity, owner: string, containerName: string, lab?: string, 
/**
 * The container's course label, if it has one.
 */
course?: string, title: string, 
/**
 * When it first and last happened (RFC 3339).
 */
firstAt: string, lastAt: string, count: number, evidence: Array<Evidence>, state: EntryState, 
/**
 * A raised hand's message.
 */
message?: string, 
/**
 * An instructor's answer to a raised hand.
 */
answer?: string, };

/**
 * A checkpoint of a container's lab: reached (when, on which line) or not.
 */
export type Checkpoint = { name: string, reachedAt?: string, cursor?: string, };

/**
 * `{ok: true}`: an answer with nothing more to say.
 */
export type OkAck = { ok: true, };

/**
 * `raise-hand` answered: the entry made.
 */
export type HandAck = { ok: true, id: number, };

/**
 * `hand-answer {id, message, from}`: to the student whose hand it was.
 */
export type HandAnswer = { id: number, 
/**
 * The container the hand was raised on.
 */
containerName: string, message: string, from: string, };

/**
 * A hand the user raised, as `GET /api/hands` lists it (so a reload, or a
 * student offline when it was answered, loses no answer).
 */
export type OwnHand = { id: number, containerName: string, 
/**
 * The line it was raised on.
 */
cursor?: string, lineText?: string, message: string, 
/**
 * When it was raised (RFC 3339).
 */
raisedAt: string, state: EntryState, 
/**
 * The instructor's answer, and who gave it.
 */
answer?: HandAnswer, };

/**
 * A line's level, where it says one (`lines[]`' `level`).
 */
export type LineLevel = "error" | "warn" | "info" | "debug";

/**
 * `ack-attention` and `dismiss-attention`.
 */
export type AttentionPayload = { id: number, };

/**
 * `raise-hand`: a student asks for help with a line of their container.
 */
export type RaiseHandPayload = { containerName: string, 
/**
 * The line (a cursor of it).
 */
cursor: string, 
/**
 * What they need, in a sentence (at most `MAX_MESSAGE` characters).
 */
message: string, };

/**
 * `answer-hand`: an instructor's answer, shown in the student's viewer.
 */
export type AnswerHandPayload = { id: number, message: string, };

/**
 * A lab as `GET /api/labs` answers it and `PUT /api/labs/{name}` takes
 * it: its rules and checkpoints (the `--labs-file` tables, as JSON).
 */
export type Lab = { name: string, rule: Array<LabRule>, checkpoint: Array<LabCheckpoint>, };

/**
 * A lab's rule: a line matching `pattern` (a regex) raises an entry.
 */
export type LabRule = { pattern: string, severity: Severity, title: string, };

/**
 * A lab's checkpoint: reached at the first line matching `pattern`.
 */
export type LabCheckpoint = { name: string, pattern: string, };

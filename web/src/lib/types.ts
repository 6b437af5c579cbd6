// The labtail wire contract for the web app. The types themselves are
// generated from the server's (./wire.ts, by a Rust test: a field the
// server adds, renames or drops fails CI until they follow); this file
// adds what only a client needs.

export type {
  AttentionEntry, AttentionSignal, Checkpoint, EntryState, Evidence, HandAck, HandAnswer, Lab, LabCheckpoint, LabRule,
  LineLevel, OkAck, OwnHand, Severity,
} from './wire';

export type {
  Code, Container, ContainerEnd, ContainerGap, ContainerLog, ContainerRenamed, ContainerState, ContainerStatus,
  ContainerUpdate, Dashboard, DashboardRow, EndReason, HistoryEvent, HistoryEventKind, HistoryPage, HistorySearch,
  ListAck, LoginOptions, Me, OidcOption, Role, SearchHit, StartAck, StartPayload, StopAck, Stream, WireError, WireLine,
} from './wire';

import type { ContainerState, ErrorAck, WireError } from './wire';

/** A watch's state as the viewer shows it. */
export type RunState = ContainerState;

/** Any acknowledgement: `{ok: true, ...T}` or `{ok: false, error}`. A
 * client-side timeout is reported as an error with code `timeout`. */
export type Ack<T = Record<string, unknown>> =
  | ({ ok: true } & T)
  | ErrorAck
  | { ok: false; error: { code: 'timeout'; message: string } };

export type ClientError = WireError | { code: 'timeout'; message: string };

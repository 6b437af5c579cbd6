// The labtail wire contract (docs/protocol.md), as TypeScript types.

export type Stream = 'stdout' | 'stderr' | 'console';

export interface WireLine {
  cursor: string;
  /** RFC 3339 UTC with nine fractional digits: sorts as text. */
  ts: string;
  stream: Stream;
  text: string;
  truncated?: number;
}

export interface ContainerLog {
  containerName: string;
  log: string;
  lines: WireLine[];
}

export interface ContainerGap {
  containerName: string;
  from: string | null;
  to: string | null;
  count: number | null;
}

export type RunState = 'running' | 'exited' | 'engine-down' | 'removed' | 'waiting';

export interface ContainerStatus {
  containerName: string;
  state: RunState;
  exitCode?: number | null;
  /** When a waited-for container appears: the name the client asked for. */
  requestedName?: string;
}

export interface ContainerEnd {
  containerName: string;
  reason: 'exited' | 'removed' | 'not-found' | string;
  exitCode?: number | null;
}

export interface Container {
  name: string;
  id: string;
  owner: string | null;
  state: string;
  status: string;
  image: string;
  created: number;
}

export interface DashboardRow extends Container {
  linesPerSecond: number;
  stderrPerSecond: number;
  stderrLines: number;
  lines: number;
  watchers: string[];
}

export interface Dashboard {
  at: string;
  containers: DashboardRow[];
}

export interface WireError {
  code: string;
  message: string;
}

export type Ack<T = Record<string, unknown>> = ({ ok: true } & T) | { ok: false; error: WireError };

export interface Me {
  username: string;
  role: 'student' | 'instructor';
}

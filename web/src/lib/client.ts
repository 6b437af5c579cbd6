// The one module that speaks the Socket.IO contract (docs/protocol.md).
//
// Views ask to `watch` a container and get its lines, gaps, status changes
// and end. On every (re)connect the client starts each watch again: with
// `after: <last cursor the view holds>` when it has one, so a dropped
// connection or a labtail restart shows no gap and no duplicate. A watch
// follows its container through a `docker rename`: its events carry the new
// name, and it is started again by that name. A watch ended because the user
// may no longer see the container (`revoked`) is over: it is never started
// again, on a reconnect or otherwise.
//
// Attention (docs/attention.md): instructors acknowledge, dismiss and answer
// entries; a student raises a hand on a line of their own container, and
// every answer to their hands (`hand-answer`, on each of their sockets) is
// kept in `hands`, whichever page is open when it arrives.

import { io, type Socket } from 'socket.io-client';
import type {
  Ack, ClientError, Container, ContainerEnd, ContainerGap, ContainerLog, ContainerRenamed, ContainerStatus,
  ContainerUpdate, Dashboard, HandAnswer, OwnHand, WireLine,
} from './types';
import { HandBook } from './hands';

export type ConnState = 'connecting' | 'connected' | 'reconnecting' | 'unauthenticated';

export interface WatchHandlers {
  /** The server's name for the container, from its answer (an ID, a
   * leading `/` or a plain name with several engines became its name). */
  onServed?(containerName: string): void;
  onLines(lines: WireLine[]): void;
  onGap(gap: ContainerGap): void;
  onStatus(status: ContainerStatus): void;
  onEnd(end: ContainerEnd): void;
  /** `docker rename`: the container is `newName` from now on. */
  onRenamed?(oldName: string, newName: string): void;
  onError(error: ClientError): void;
  /** Cursor of the newest line the view holds, to resume after. */
  resumeFrom(): string | undefined;
}

interface WatchEntry {
  /** The view's name for it: its key in `watches`. */
  key: string;
  /** The name it is started by: the view's, until a rename. */
  name: string;
  tail: number;
  handlers: WatchHandlers;
  /** The name the server answered with; its events carry this one. */
  served?: string;
}

const ACK_TIMEOUT = 15_000;

export class LabtailClient {
  readonly socket: Socket;
  state: ConnState = 'connecting';
  /** By the name the view asked for. */
  private watches = new Map<string, WatchEntry>();
  /** By the name the server answered with: how its events are routed. */
  private routes = new Map<string, Set<WatchEntry>>();
  private stateListeners = new Set<(s: ConnState) => void>();
  private updateListeners = new Set<(c: ContainerUpdate) => void>();
  private dashboardListeners = new Set<(d: Dashboard) => void>();
  /** This tab's raised hands and every answer to the user's hands. */
  readonly hands = new HandBook();

  /** `socket`: one made elsewhere (tests). */
  constructor(url?: string, socket?: Socket) {
    this.socket = socket ?? io(url ?? '/', {
      withCredentials: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    const s = this.socket;
    s.on('connect', () => {
      this.setState('connected');
      for (const [name, w] of this.watches) this.start(name, w);
      if (this.dashboardListeners.size) void this.emit('watch-dashboard', {});
      // Answers given while this tab was away (or before a reload).
      void this.loadHands();
    });
    s.on('disconnect', (reason) => {
      if (reason === 'io client disconnect') return;
      this.setState('reconnecting');
      // The server ended the socket: a logout, an expired or revoked session.
      // Find out which before trying again.
      if (reason === 'io server disconnect') void this.checkSession();
    });
    s.on('connect_error', (err) => {
      if (err.message === 'unauthenticated') {
        s.disconnect();
        this.setState('unauthenticated');
      } else {
        this.setState('reconnecting');
      }
    });
    s.on('container-log', (p: ContainerLog) => this.each(p.containerName, (h) => h.onLines(p.lines)));
    s.on('container-log-gap', (p: ContainerGap) => this.each(p.containerName, (h) => h.onGap(p)));
    s.on('container-status', (p: ContainerStatus) => {
      // A waited-for container appeared: from now on its events carry its
      // own name.
      const waiting = p.requestedName ? this.watches.get(p.requestedName) : undefined;
      if (waiting) this.serve(waiting, p.containerName);
      this.each(p.containerName, (h) => h.onStatus(p));
    });
    s.on('container-log-end', (p: ContainerEnd) => {
      const ended = [...(this.routes.get(p.containerName) ?? [])];
      // Over for good: forgotten before the view hears of it, so nothing
      // (a reconnect, the view's own stop) starts or stops it again.
      if (p.reason === 'revoked') for (const w of ended) this.forget(w);
      for (const w of ended) w.handlers.onEnd(p);
    });
    s.on('container-renamed', (p: ContainerRenamed) => {
      for (const w of [...(this.routes.get(p.containerName) ?? [])]) {
        // Started again (a reconnect) by its new name: the old one is free
        // for another container now.
        w.name = p.newName;
        this.serve(w, p.newName);
        w.handlers.onRenamed?.(p.containerName, p.newName);
      }
    });
    s.on('container-update', (c: ContainerUpdate) => { for (const f of this.updateListeners) f(c); });
    s.on('dashboard', (d: Dashboard) => { for (const f of this.dashboardListeners) f(d); });
    s.on('hand-answer', (a: HandAnswer) => this.hands.answered(a));
  }

  /** The user's own raised hands and their answers, from the server. */
  private async loadHands(): Promise<void> {
    try {
      const res = await fetch('/api/hands', { credentials: 'same-origin' });
      if (res.ok) this.hands.restore((await res.json()) as OwnHand[]);
    } catch {
      // Unreachable: the next connection reads them.
    }
  }

  private async checkSession(): Promise<void> {
    try {
      const res = await fetch('/api/me', { credentials: 'same-origin' });
      if (res.status === 401) {
        this.setState('unauthenticated');
        return;
      }
    } catch {
      // The server is unreachable: keep trying to reconnect.
    }
    this.socket.connect();
  }

  private setState(s: ConnState) {
    if (this.state === s) return;
    this.state = s;
    for (const f of this.stateListeners) f(s);
  }

  onState(f: (s: ConnState) => void): () => void {
    this.stateListeners.add(f);
    return () => this.stateListeners.delete(f);
  }

  onContainerUpdate(f: (c: ContainerUpdate) => void): () => void {
    this.updateListeners.add(f);
    return () => this.updateListeners.delete(f);
  }

  private async emit<T>(event: string, payload: unknown): Promise<Ack<T>> {
    try {
      return await this.socket.timeout(ACK_TIMEOUT).emitWithAck(event, payload);
    } catch {
      return { ok: false, error: { code: 'timeout', message: 'labtail did not answer in time' } };
    }
  }

  async list(): Promise<Container[]> {
    const ack = await this.emit<{ containers: Container[] }>('list-containers', {});
    if (!ack.ok) throw new Error(ack.error.message);
    return ack.containers;
  }

  /** Calls `f` with the handlers of every watch the server's `name` is for. */
  private each(name: string, f: (h: WatchHandlers) => void): void {
    for (const w of this.routes.get(name) ?? []) f(w.handlers);
  }

  /** Routes the server's name for a container to a watch. */
  private serve(w: WatchEntry, served: string): void {
    if (w.served === served) return;
    this.unroute(w);
    w.served = served;
    let set = this.routes.get(served);
    if (!set) this.routes.set(served, (set = new Set()));
    set.add(w);
    w.handlers.onServed?.(served);
  }

  private unroute(w: WatchEntry): void {
    if (w.served === undefined) return;
    const set = this.routes.get(w.served);
    set?.delete(w);
    if (set && set.size === 0) this.routes.delete(w.served);
  }

  /** Drops a watch the server ended for good. */
  private forget(w: WatchEntry): void {
    if (this.watches.get(w.key) === w) this.watches.delete(w.key);
    this.unroute(w);
  }

  /** `name`: the view's name for it (the key of `watches`). */
  private start(name: string, w: WatchEntry): void {
    const after = w.handlers.resumeFrom();
    const payload = after ? { containerName: w.name, after } : { containerName: w.name, tail: w.tail };
    // The first lines come right after the ack, possibly in the same
    // long-polling response: the answer is handled in the ack callback
    // itself (a promise would run only after the rest of that response),
    // so its name is routed before they are dispatched.
    this.socket.timeout(ACK_TIMEOUT).emit('start-container-logs', payload,
      (err: Error | null, ack: Ack<{ containerName?: string; state?: string }>) => {
        if (this.watches.get(name) !== w) return;
        if (err) {
          w.handlers.onError({ code: 'timeout', message: 'labtail did not answer in time' });
          return;
        }
        if (!ack.ok) {
          w.handlers.onError(ack.error);
          return;
        }
        const served = ack.containerName ?? w.name;
        this.serve(w, served);
        if (ack.state) w.handlers.onStatus({ containerName: served, state: ack.state as ContainerStatus['state'] });
      });
  }

  /** Watches a container until the returned function is called. */
  watch(name: string, tail: number, handlers: WatchHandlers): () => void {
    const entry: WatchEntry = { key: name, name, tail, handlers };
    this.watches.set(name, entry);
    if (this.socket.connected) this.start(name, entry);
    return () => {
      if (this.watches.get(name) !== entry) return;
      this.watches.delete(name);
      const served = entry.served ?? name;
      this.unroute(entry);
      // Another view may watch the same container on this socket.
      if (this.socket.connected && !this.routes.has(served)) {
        void this.emit('stop-container-logs', { containerName: served });
      }
    };
  }

  /** Instructors: live dashboard snapshots until the returned function is called. */
  watchDashboard(f: (d: Dashboard) => void): () => void {
    this.dashboardListeners.add(f);
    if (this.dashboardListeners.size === 1 && this.socket.connected) void this.emit('watch-dashboard', {});
    return () => {
      this.dashboardListeners.delete(f);
      if (this.dashboardListeners.size === 0 && this.socket.connected) void this.emit('stop-dashboard', {});
    };
  }

  /** Instructors: an entry is being seen to (it stays, dimmed, for everyone). */
  ackAttention(id: number): Promise<Ack> {
    return this.emit('ack-attention', { id });
  }

  /** Instructors: an entry is done with (it leaves the list; the same signal
   * again makes a new one). */
  dismissAttention(id: number): Promise<Ack> {
    return this.emit('dismiss-attention', { id });
  }

  /** Instructors: answers a raised hand (its student's viewer shows it). */
  answerHand(id: number, message: string): Promise<Ack> {
    return this.emit('answer-hand', { id, message });
  }

  /** A student asks for help about a line of their own container; the hand
   * is kept in `hands` once the server has it. `lineText`: the line as the
   * view shows it, to say which one it was. */
  async raiseHand(containerName: string, cursor: string, message: string, lineText?: string): Promise<Ack<{ id: number }>> {
    const ack = await this.emit<{ id: number }>('raise-hand', { containerName, cursor, message });
    if (ack.ok) this.hands.raised({ id: ack.id, containerName, cursor, message, lineText });
    return ack;
  }

  close(): void {
    this.watches.clear();
    this.routes.clear();
    this.socket.disconnect();
  }
}

// Type declarations for the libstrapto Node binding.
/// <reference types="node" />
import { EventEmitter } from 'events';

/** Name of the loaded library (STRAPTO_LIBRARY or "libstrapto.so.0"). */
export const libraryPath: string;
/** The library's version, "MAJOR.MINOR.PATCH". */
export function version(): string;
/** Human-readable name of a negative STRAPTO_E* code. */
export function strerror(code: number): string;
/** Process-wide log level: "error" | "warn" | "info" | "debug" | "trace" or 0..4. */
export function setLogLevel(level: LogLevel): void;
export function getLogLevel(): number;

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace' | 0 | 1 | 2 | 3 | 4;

export type StraptoErrorCode =
  | 'STRAPTO_EINVAL' | 'STRAPTO_ENOMEM' | 'STRAPTO_ESTATE' | 'STRAPTO_EPARSE' | 'STRAPTO_EIO'
  | 'STRAPTO_ETIMEDOUT' | 'STRAPTO_ECLOSED' | 'STRAPTO_EAGAIN' | 'STRAPTO_ETOOBIG'
  | 'STRAPTO_ENOTFOUND' | 'STRAPTO_EUNSUPPORTED' | 'STRAPTO_ECRYPTO' | 'STRAPTO_ELIMIT'
  | 'STRAPTO_EINTERNAL' | 'STRAPTO_UNKNOWN';

/** A library call failed. */
export class StraptoError extends Error {
  /** The negative STRAPTO_E* value. */
  readonly errno: number;
  readonly code: StraptoErrorCode;
}

export interface ContextOptions {
  /** Loop threads; <= 0 or absent: one per CPU core. */
  threads?: number;
  /** Process-wide log level to set. */
  logLevel?: LogLevel;
  /** Events kept for replay (default 100; 0: none). */
  busReplay?: number;
  /** Default per-subscriber queue bound (default 1024). */
  busQueue?: number;
}

/** A libstrapto context: loop threads, the event bus, and every object made on it. */
export class Context {
  constructor(options?: ContextOptions);
  readonly bus: Bus;
  readonly threads: number;
  /** Free every object still open on the context, then the context. Idempotent. */
  close(): Promise<void>;
}

/** A bus event. */
export class Event {
  readonly seq: number;
  readonly type: string;
  /** Wall clock, microseconds since the UNIX epoch. */
  readonly timestampUs: number;
  readonly timestamp: Date;
  /** The publisher's name, "" if none. */
  readonly source: string;
  /** The payload as JSON text. */
  readonly payload: string;
  /** The payload parsed. */
  readonly data: unknown;
  toJSON(): { seq: number; type: string; timestampUs: number; source: string; data: unknown };
}

export interface SubscribeOptions {
  /** Context loop the delivery runs on (-1: any). */
  loop?: number;
  /** Queue bound for this subscriber (0: the context default). */
  queueLength?: number;
}

/** A bus subscription; emits 'event'. */
export class Subscription extends EventEmitter {
  /** Events dropped because this subscriber's queue was full. */
  readonly dropped: number;
  /** End the subscription; resolves once no listener call can follow. */
  unsubscribe(): Promise<void>;
  close(): Promise<void>;
  on(event: 'event', listener: (ev: Event) => void): this;
  once(event: 'event', listener: (ev: Event) => void): this;
  off(event: 'event', listener: (ev: Event) => void): this;
}

/** The context's event bus. */
export class Bus {
  /** Publish `data` as JSON (undefined: {}). Returns the sequence number. */
  publish(type: string, data?: unknown, source?: string | null): number;
  /** Publish a JSON text as it is. */
  publishJson(type: string, json: string | null, source?: string | null): number;
  /** Subscribe to events whose type starts with `prefix` ("": all). */
  subscribe(prefix: string, listener?: (ev: Event) => void, options?: SubscribeOptions): Subscription;
  subscribe(listener: (ev: Event) => void, options?: SubscribeOptions): Subscription;
  /** The replay ring's events matching `prefix`, oldest first. */
  replay(prefix?: string): Event[];
  /** Sequence number of the last event published (0 if none). */
  readonly lastSeq: number;
}

export type PeerState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface PeerOptions {
  stunServers?: string | string[];
  turnServers?: string | string[];
  /** Addresses ICE may use; absent: STRAPTO_ICE_ADDRESSES, else every non-loopback interface. */
  localAddresses?: string | string[];
  loop?: number;
  maxMessageSize?: number;
  maxBuffered?: number;
  portMin?: number;
  portMax?: number;
  relayOnly?: boolean;
}

export interface IceCandidate {
  /** "candidate:..." without "a=". */
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number;
}

export interface DataChannelOptions {
  protocol?: string;
  ordered?: boolean;
  maxRetransmits?: number | null;
  maxPacketLifeTime?: number | null;
  negotiated?: boolean;
  id?: number | null;
}

/** A WebRTC peer connection. Events: 'candidate' (IceCandidate, null at the end of
 * gathering), 'gatheringcomplete', 'state' (PeerState, numeric state), 'datachannel'. */
export class Peer extends EventEmitter {
  constructor(ctx: Context, options?: PeerOptions);
  readonly state: PeerState;
  /** Largest message a channel can send now (0 before the remote description). */
  readonly maxMessageSize: number;
  createOffer(): Promise<string>;
  createAnswer(): Promise<string>;
  /** The local description with every candidate gathered so far. */
  localDescription(): Promise<string>;
  setRemoteDescription(type: 'offer' | 'answer', sdp: string): Promise<void>;
  setRemoteDescription(desc: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
  /** null or "": the remote's end of candidates. */
  addRemoteCandidate(candidate: string | null, mid?: string | null): Promise<void>;
  addRemoteCandidate(candidate: { candidate: string; sdpMid?: string | null }): Promise<void>;
  restartIce(): Promise<void>;
  /** Create a channel; events it fires before the promise resolves are held until after. */
  createDataChannel(label?: string, options?: DataChannelOptions): Promise<DataChannel>;
  /** Close the connection (state 'closed') without freeing the peer. */
  closeConnection(): Promise<void>;
  /** Close and free the peer; resolves when no listener call can follow. */
  close(): Promise<void>;

  on(event: 'candidate', listener: (c: IceCandidate | null) => void): this;
  on(event: 'gatheringcomplete', listener: () => void): this;
  on(event: 'state', listener: (state: PeerState, code: number) => void): this;
  on(event: 'datachannel', listener: (dc: DataChannel) => void): this;
  once(event: 'candidate', listener: (c: IceCandidate | null) => void): this;
  once(event: 'gatheringcomplete', listener: () => void): this;
  once(event: 'state', listener: (state: PeerState, code: number) => void): this;
  once(event: 'datachannel', listener: (dc: DataChannel) => void): this;
}

export type DataChannelState = 'connecting' | 'open' | 'closing' | 'closed';

/** A data channel. Events: 'open', 'message' (string for a string message, Buffer
 * for a binary one; second argument: binary), 'close', 'bufferedamountlow'. */
export class DataChannel extends EventEmitter {
  readonly label: string;
  readonly protocol: string;
  readonly id: number;
  readonly ordered: boolean;
  /** -1: reliable. */
  readonly maxRetransmits: number;
  /** -1: reliable. */
  readonly maxPacketLifeTime: number;
  readonly negotiated: boolean;
  readonly readyState: DataChannelState;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  /** A string is sent as a string message; binary data as a binary message.
   * Throws StraptoError (STRAPTO_EAGAIN: queue full, wait for 'bufferedamountlow'). */
  send(data: string | Buffer | ArrayBufferView | ArrayBuffer): void;
  close(): Promise<void>;

  on(event: 'open' | 'close' | 'bufferedamountlow', listener: () => void): this;
  on(event: 'message', listener: (data: string | Buffer, binary: boolean) => void): this;
  once(event: 'open' | 'close' | 'bufferedamountlow', listener: () => void): this;
  once(event: 'message', listener: (data: string | Buffer, binary: boolean) => void): this;
}

export type SlowPolicy = 'notify' | 'disconnect';

export interface EventHubOptions {
  /** "HOST:PORT" (port 0: any); default "127.0.0.1:8765". */
  listen?: string;
  /** WebSocket path; default "/events". */
  path?: string;
  token?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxClients?: number;
  clientQueue?: number;
  slowPolicy?: SlowPolicy;
  maxMessage?: number;
  inputRate?: number;
  loop?: number;
  /** false: no 'command' events (the hub answers unknown commands with "error"). */
  commands?: boolean;
}

export interface HubCommand {
  type: string;
  /** The command's data parsed (undefined if it is not JSON). */
  data: unknown;
  /** The command's data as JSON text. */
  json: string;
  clientId: bigint;
}

/** The WebSocket event hub on the context's bus. Event: 'command' (HubCommand). */
export class EventHub extends EventEmitter {
  static create(ctx: Context, options?: EventHubOptions): Promise<EventHub>;
  /** The bound TCP port (0 once closed). */
  readonly port: number;
  readonly clients: number;
  close(): Promise<void>;
  on(event: 'command', listener: (cmd: HubCommand) => void): this;
  once(event: 'command', listener: (cmd: HubCommand) => void): this;
}

export interface StreamServerOptions {
  /** "HOST:PORT"; default "127.0.0.1:8080". */
  listen?: string;
  /** argv of the model process; absent: no model (events only). */
  model?: string[];
  restart?: 'never' | 'on-failure' | 'always';
  inputFormat?: 'json' | 'text';
  wwwDir?: string;
  token?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxBody?: number;
  maxClients?: number;
  clientQueue?: number;
  slowPolicy?: SlowPolicy;
  maxInput?: number;
  inputRate?: number;
  iceLocalAddresses?: string | string[];
  stunServers?: string | string[];
  turnServers?: string | string[];
  loop?: number;
}

/** The model stream server (HTTP, WebSocket /events, WebRTC). */
export class StreamServer {
  static create(ctx: Context, options?: StreamServerOptions): Promise<StreamServer>;
  /** The bound TCP port (0 once closed). */
  readonly port: number;
  /** The /status document. */
  status(): Promise<Record<string, unknown>>;
  /** Stop the model, close every client, free. */
  close(): Promise<void>;
}

/**
 * The storage interface of the recorder, implemented on disk
 * (`disk_storage.ts`) and on S3-compatible object stores (`s3_storage.ts`).
 *
 * A recording is three things under one id (`YYYY/MM/DD/<session id>`):
 * the evidence, its manifest (`.json`) and its text index (`.txt`). The
 * evidence is the record stream exactly as the proxy uploaded it
 * (`.records`, manifest `format: "records"`, protocol v2); recordings of the
 * v1 protocol stored a `.cast` (pure asciicast v2) instead and stay readable.
 * Views (the asciicast, the raw stdout) are derived from the evidence when
 * read (`views/`). A recording whose final manifest was never written is
 * `partial` (or `recording` while its upload is live).
 *
 * Statuses: `recording` (upload live), `complete` (the manifest arrived and
 * matches the bytes stored), `partial` (anything else once the header was
 * accepted: a limit, an invalid line, a disconnect, a crash; `partialReason`
 * says what and where), `refused` (the API server did not upgrade the
 * session; `end.upstream` says what it answered). Storage never removes a
 * recording whose header it accepted; only an upload refused at its header
 * is removed ({@linkcode RecordingWriter.abort}).
 *
 * @module
 */

import type { IncrementalDigest } from "../recording/cast_encoder.ts";
import type { CastHeader, SessionEnd } from "../recording/wire.ts";
import type { ManifestSigner } from "./integrity/signing_key.ts";
import type { RecordingId } from "./recording_id.ts";

/** Where a recording stands. */
export type RecordingStatus = "complete" | "partial" | "recording" | "refused";

/** Every {@linkcode RecordingStatus}, in the order the UI offers them. */
export const RECORDING_STATUSES: readonly RecordingStatus[] = [
  "complete",
  "partial",
  "refused",
  "recording",
];

/**
 * One part of a joined recording, as the joined manifest lists it
 * (`parts.ts`: a session that failed over between recorders).
 */
export interface RecordingPart {
  /** The part's own id. */
  id: string;
  /** The part's number, from 1. */
  part: number;
  /** Offset in the session's record stream where the part starts. */
  offset: number;
  /** Bytes of the part's evidence in the joined stream. */
  bytes: number;
  /** The part's own status (earlier parts are `partial`: their upload was cut). */
  status: RecordingStatus;
  /** For a later part: the recorder of the previous part, and why it stopped. */
  failover?: { from: string; reason: string; at: number };
  /** Bytes the previous part should have held and does not. */
  missing?: { from: number; to: number };
  /** The peer recorder holding the part, when it is not in this one's storage. */
  recorder?: string;
}

/** What the recorder knows about one recording (the stored `.json`). */
export interface RecordingManifest {
  /** Recording id, `YYYY/MM/DD/<session id>`. */
  id: string;
  /** Session id. */
  sessionId: string;
  /** `complete`, `partial`, `refused` or `recording` (upload still live). */
  status: RecordingStatus;
  /**
   * What the evidence is: `"records"` (the v2 record stream, `.records`);
   * absent: a v1 recording, a `.cast`.
   */
  format?: "records";
  /** The asciicast header as uploaded. */
  header: CastHeader;
  /** The end-of-session manifest, when it arrived. */
  end?: SessionEnd;
  /** Bytes of the stored evidence (the `.records`, or a v1 `.cast`). */
  castBytes: number;
  /** Unix ms when the upload started (recorder clock). */
  startedAt: number;
  /** Unix ms of the last manifest update. */
  updatedAt: number;
  /** Unix ms when the recording was finalised. */
  finishedAt?: number;
  /** Why the recording is partial. */
  partialReason?: string;
  /** Whether the text index stopped at its size bound. */
  textTruncated?: boolean;
  /**
   * The parts of a session that failed over to other recorders midway
   * (`parts.ts`): set on the joined manifest the recorder serves for the
   * first part's id.
   */
  parts?: RecordingPart[];
  /**
   * Set on a later part whose earlier parts are not in this recorder's
   * storage: what could not be checked (the end record's digests cover the
   * whole session).
   */
  unverified?: string;
  /**
   * Tamper evidence (`integrity/`): the hash chain over the stored evidence
   * and, when the recorder has a signing key, its signature over the
   * manifest. Set on the final manifest.
   */
  integrity?: RecordingIntegrity;
  /** Set when a moderator ended the live session from the recorder. */
  terminated?: {
    /** The moderator's name (from the recorder's configuration). */
    by: string;
    /** The reason they gave. */
    reason: string;
    /** Unix ms (recorder clock). */
    at: number;
  };
}

/**
 * A manifest's tamper evidence (`integrity/seal.ts` makes it,
 * `integrity/verify.ts` checks it; docs/recorder.md "Tamper evidence").
 */
export interface RecordingIntegrity {
  /** The chain: `"sha256-chain-v1"` (`integrity/evidence_chain.ts`). */
  alg: string;
  /** Segment size in bytes. */
  segmentBytes: number;
  /** Evidence bytes the chain covers (the whole stored evidence). */
  bytes: number;
  /** Each segment's chained SHA-256, lower-case hex. */
  segments: string[];
  /** The id of the key that signed the manifest (absent: not signed). */
  keyId?: string;
  /** Base64 Ed25519 signature over the manifest's signed fields. */
  signature?: string;
}

/**
 * The file name ending (or key suffix) of a recording's evidence.
 * @param m The manifest (its `format`).
 * @returns `".records"` (v2) or `".cast"` (v1).
 */
export function evidenceExt(m: Pick<RecordingManifest, "format">): string {
  return m.format === "records" ? ".records" : ".cast";
}

/** Thrown by {@linkcode RecordingStorage.create} when the id is taken. */
export class RecordingExistsError extends Error {
  /**
   * Creates the error: `Cannot create recording "ID": it exists already`.
   * @param id The recording id that exists already.
   */
  constructor(id: string) {
    super(`Cannot create recording ${JSON.stringify(id)}: it exists already`);
    this.name = "RecordingExistsError";
  }
}

/** Writes one recording as its upload arrives. */
export interface RecordingWriter {
  /** The recording id. */
  readonly id: string;
  /** Bytes of the evidence durably handed to storage so far. */
  readonly durableBytes: number;
  /**
   * Appends bytes of the evidence (complete records, or v1 lines, only).
   * @param chunk The bytes; the writer does not keep a reference after return.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Makes written bytes durable when the backend's flush policy says so.
   * @param force Flush whatever is buffered, now.
   */
  sync(force?: boolean): Promise<void>;
  /**
   * Finalises the recording: flushes the evidence and then, atomically, the
   * manifest. The text index is derived from the evidence afterwards
   * (`TextIndexer`), off the upload's path.
   * @param manifest The final manifest (`complete`, `partial` or `refused`).
   */
  finish(manifest: RecordingManifest): Promise<void>;
  /**
   * Removes everything of this recording: only for an upload refused at its
   * header (nothing of a session was accepted yet).
   */
  abort(): Promise<void>;
}

/**
 * How {@linkcode RecordingStorage.recover} seals what it recovers: the same
 * tamper evidence ingest gives a final manifest (`integrity/seal.ts`).
 */
export interface RecoverySeal {
  /**
   * Makes the incremental SHA-256 of the evidence chain
   * (`integrity/evidence_chain.ts`, default segment size, as at ingest).
   */
  digest: () => IncrementalDigest;
  /** The recorder's key; without one the manifest carries the chain only. */
  signer?: ManifestSigner;
}

/** Options of {@linkcode RecordingStorage.recover}. */
export interface RecoverOptions {
  /**
   * Seals each recovered record stream (`format: "records"`) over the
   * evidence it kept; a v1 `.cast` is never sealed, as at ingest. Without
   * it, recovered manifests have no `integrity` (and `verify` fails them).
   */
  seal?: RecoverySeal;
}

/** A recording storage backend. */
export interface RecordingStorage {
  /**
   * Starts a recording.
   * @param id The recording id.
   * @param manifest The initial manifest (status `recording`); its `format`
   * says what the evidence is.
   * @param headerLine The first bytes of the evidence (the header record, or
   * the v1 header line).
   * @throws {RecordingExistsError} When the id exists.
   */
  create(
    id: RecordingId,
    manifest: RecordingManifest,
    headerLine: Uint8Array,
  ): Promise<RecordingWriter>;
  /**
   * Tells whether an id is taken.
   * @param id The recording id.
   * @returns Whether anything is stored under the id.
   */
  exists(id: RecordingId): Promise<boolean>;
  /**
   * Lists the stored recordings.
   * @returns Every recording's manifest, in no particular order.
   */
  list(): Promise<RecordingManifest[]>;
  /**
   * Reads one recording's manifest.
   * @param id The recording id.
   * @returns The manifest, or `undefined` when there is none.
   */
  get(id: RecordingId): Promise<RecordingManifest | undefined>;
  /**
   * Reads the stored evidence as it is (the `.records` of a v2 recording,
   * the `.cast` of a v1 one; the manifest's `format` says which).
   * @returns The bytes, or `undefined` when there are none.
   */
  openStored(id: RecordingId): Promise<ReadableStream<Uint8Array> | undefined>;
  /**
   * Reads the text index derived from a recording's evidence.
   * @param id The recording id.
   * @returns The text index, or `undefined` when there is none yet.
   */
  readText(id: RecordingId): Promise<string | undefined>;
  /**
   * Stores the text index derived from a finished recording's evidence
   * (replacing any).
   * @param id The recording id.
   * @param text The plain output text for search.
   */
  writeText(id: RecordingId, text: string): Promise<void>;
  /**
   * Finalises recordings left unfinished by a recorder that stopped: marks
   * them `partial`, trims a torn last record (or line), builds their text
   * index and, with `options.seal`, seals their manifest over the evidence
   * kept (the chain is computed at recovery: it covers the bytes as they
   * were found then).
   * @param options How to seal. @default {{}}
   * @returns How many recordings were recovered.
   */
  recover(options?: RecoverOptions): Promise<number>;
  /**
   * Deletes every object of a recording (retention, or an upload refused at
   * its header). Never called for a live one.
   * @param id The recording id.
   */
  remove(id: RecordingId): Promise<void>;
  /** Releases the backend's resources. */
  close(): Promise<void>;
}

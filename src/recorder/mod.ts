/**
 * The execgate recorder service: receives live session recordings from the
 * proxy, stores them on disk or in S3, and serves a query API and a web UI.
 *
 * @example
 * ```ts ignore
 * import { parseRecorderConfig, runRecorder } from "./mod.ts";
 * await runRecorder(parseRecorderConfig({}, Deno.env.toObject()));
 * ```
 *
 * @module
 */

export {
  createRecorder,
  type Recorder,
  type RecorderDeps,
  type RecorderMetricsDeps,
} from "./app.ts";
export {
  type RecorderEnv,
  type Role,
  TokenAuthority,
  VIEWER_COOKIE,
} from "./auth.ts";
export {
  type DiskStorageConfig,
  type IndexConfig,
  loadRecorderConfig,
  parseRecorderConfig,
  RECORDER_ENV,
  type RecorderConfig,
  resolveIndexConfig,
  type S3StorageConfig,
} from "./config.ts";
export { DiskStorage, type DiskStorageOptions } from "./disk_storage.ts";
export { type IngestLimits, Ingestor, type IngestResult } from "./ingest.ts";
export { type RecordingPage, type RecordingQuery } from "./query.ts";
export {
  makeRecordingId,
  parseRecordingId,
  type RecordingId,
} from "./recording_id.ts";
export { S3Storage, type S3StorageOptions } from "./s3_storage.ts";
export { S3EventStore, type S3EventStoreOptions } from "./events_s3_store.ts";
export {
  nodeSha256,
  reindexRecorder,
  runRecorder,
  type ServedRecorder,
  serveRecorder,
} from "./serve.ts";
export {
  castOfRecords,
  CastView,
  channelOfRecords,
  storedRecords,
} from "./views/cast_view.ts";
export {
  isTarHeader,
  TarLister,
  type TarListerOptions,
  type TarListing,
  type TarMember,
  type TarMemberType,
} from "./views/tar_listing.ts";
export {
  copyByCommand,
  type CopyDirection,
  type CopyFiles,
  type CopyFilesSource,
  CopyFilesView,
  copyResumedFrom,
  type CopyScan,
  type CopyScanOptions,
  scanCopyRecords,
} from "./views/copy_files.ts";
export { ingestRecords, type RecordsIngestContext } from "./records_ingest.ts";
export {
  evidenceExt,
  RECORDING_STATUSES,
  RecordingExistsError,
  type RecordingIntegrity,
  type RecordingManifest,
  type RecordingPart,
  type RecordingStatus,
  type RecordingStorage,
  type RecordingWriter,
  type RecoverOptions,
  type RecoverySeal,
} from "./storage.ts";
export { createStorage } from "./storage_factory.ts";
export { type CreatedIndex, createIndex } from "./index_factory.ts";
export type { IndexEntry, RecordingIndex } from "./index/recording_index.ts";
export type { ReindexResult } from "./index/reindex.ts";
export {
  type PartSource,
  PeerRecorder,
  type PeerRecorderOptions,
} from "./peer_parts.ts";
export type {
  EventStore,
  EventStreamStat,
  EventStreamWriter,
} from "./events_store.ts";
export type {
  EventIndex,
  EventPage,
  EventQuery,
  StoredEvent,
} from "./index/events_index.ts";
export {
  INDEX_QUERY_KINDS,
  type IndexQueryKind,
  type IngestMetrics,
  type RecorderMetrics,
} from "../metrics/recorder_metrics.ts";
export {
  RecordType,
  type RecordTypeId,
  type SessionRecord,
} from "../protocol/records.ts";
export type { LogFields, Logger } from "../log.ts";
export type { IncrementalDigest } from "../recording/cast_encoder.ts";
export type {
  Ack,
  CastHeader,
  ChannelDigest,
  Continuation,
  EndReason,
  PortForwardHeader,
  PortForwardStreamSummary,
  PortForwardSummary,
  SessionEnd,
  UpstreamRefusal,
} from "../recording/wire.ts";
export type { Registry } from "../metrics/registry.ts";
export type { Counter, CounterChild } from "../metrics/counter.ts";
export type { Gauge, GaugeChild } from "../metrics/gauge.ts";
export type {
  Histogram,
  HistogramChild,
  HistogramOptions,
} from "../metrics/histogram.ts";
export type { Family, LabelValues, MetricOptions } from "../metrics/_family.ts";
export {
  applyEventRetention,
  applyRetention,
  type EventRetentionOptions,
  type RetentionOptions,
} from "./retention.ts";
export { stripAnsi } from "./text_index.ts";
export { TextIndexer, type TextIndexerOptions } from "./text_indexer.ts";
export { type ChainState, EvidenceChain } from "./integrity/evidence_chain.ts";
export {
  sealManifest,
  sealStoredEvidence,
  signedBytes,
} from "./integrity/seal.ts";
export {
  type GeneratedKey,
  generateSigningKey,
  type ManifestSigner,
  type ManifestVerifier,
  signerFromText,
  verifierFromText,
} from "./integrity/signing_key.ts";
export {
  type VerifyInput,
  type VerifyLine,
  verifyRecording,
  type VerifyReport,
} from "./integrity/verify.ts";
export { bundleOf } from "./integrity/bundle_stream.ts";
export { loadSigner } from "./serve.ts";

/**
 * The proxy's API request events: for a caller whose decision says
 * `enableEvents`, {@linkcode RequestEvents.begin} builds the request's event
 * (capturing the body of the verbs and resources that keep one, bounded),
 * sends it on the {@linkcode EventStream} of the caller's recorders (one per
 * recorder list, opened lazily), and hands back the body to forward and a
 * hook that counts the response and sends the `response` record when it
 * ends.
 *
 * Fail closed (`enforceRecorder`): `begin` resolves only once the recorder
 * acknowledged the request record, and throws
 * {@linkcode EventRefusedError} otherwise: the proxy answers 503 and never
 * forwards the request. The `response` record is sent without holding the
 * response back; if it is not acknowledged, that is logged (the request
 * record, already acknowledged, stays on record).
 *
 * Fail open: records go to the stream's bounded queue, and losses are
 * counted and logged there.
 *
 * @module
 */

import type { Identity } from "../../identity/identity.ts";
import type { Decision } from "../../policy/decision.ts";
import type { Logger } from "../../log.ts";
import type { EventStream } from "../../recording/event_stream.ts";
import type { Route } from "../routes.ts";
import type { QueryPair } from "../request_target.ts";
import { captureBody } from "./capture_body.ts";
import { describeBody } from "./event_body.ts";
import {
  callerOf,
  capturesBody,
  type RequestEventRecord,
  type ResponseEventRecord,
  verbOf,
} from "./request_event.ts";

/** Refusal of a fail-closed request whose event was not acknowledged. */
export class EventRefusedError extends Error {
  /** Always `"EventRefusedError"`. */
  override name = "EventRefusedError";
}

/**
 * Refusal of a fail-closed request whose body its event cannot hold whole:
 * a body that starts pods (the resources {@linkcode capturesBody} names)
 * longer than the capture bound, not JSON (YAML, protobuf), or too large
 * for an event once its Secret values are hashed. Forwarding it would run
 * a command the audit record does not show (a pod manifest padded past the
 * bound, or sent as YAML, would hide its `command`). Nothing was sent.
 */
export class EventBodyRefusedError extends Error {
  /** Always `"EventBodyRefusedError"`. */
  override name = "EventBodyRefusedError";
  /** The HTTP status to answer: 413 (too large) or 415 (not JSON). */
  readonly status: 413 | 415;

  /**
   * Creates the refusal.
   * @param status 413 or 415.
   * @param message What and why (the `Status` message).
   */
  constructor(status: 413 | 415, message: string) {
    super(message);
    this.status = status;
  }
}

/** Options of {@linkcode RequestEvents}. */
export interface RequestEventsOptions {
  /** The recorder URLs of the decision's recorder tags, in order. */
  recorderUrls: (tags: readonly string[]) => string[];
  /** Opens the events stream of a recorder list (called once per list). */
  openStream: (urls: readonly string[]) => EventStream;
  /** Proxy hostname (in each event). */
  proxyHostname: string;
  /** Largest request body prefix kept. @default {65536} */
  maxBodyBytes?: number;
  /** Logger. */
  logger: Logger;
  /** Clock, Unix ms. @default {Date.now} */
  now?: () => number;
  /** Event id generator. @default {random 128-bit hex} */
  newId?: () => string;
}

/** One request being forwarded. */
export interface EventedRequest {
  /** Who sent it. */
  identity: Identity;
  /** What the policy says for them (`enableEvents`, recorders). */
  decision: Decision;
  /** The request method. */
  method: string;
  /** The API route the target names (group, resource, namespace, name, …). */
  route: Route;
  /** The decoded query pairs (the verb depends on `watch`, for one). */
  query: readonly QueryPair[];
  /** The target as forwarded upstream. */
  target: string;
  /** The client's body (null for none). */
  body: ReadableStream<Uint8Array> | null;
  /** Whether it is an upgrade. */
  upgrade?: boolean;
}

/** A request whose event was sent: forward `body`, then report the answer. */
export interface EventInFlight {
  /** The body to forward (exactly the client's), or null. */
  body: ReadableStream<Uint8Array> | null;
  /**
   * Wraps the upstream's response so its bytes are counted and the
   * `response` record is sent when it ends (or the client cancels it).
   * @param res The upstream's response.
   * @returns The response to send the client.
   */
  respond(res: Response): Response;
  /**
   * Sends the `response` record of a request that got no response body to
   * wrap (an upgrade, or upstream unreachable).
   * @param status Status code (0: none).
   * @param error What went wrong.
   */
  end(status: number, error?: string): void;
  /**
   * Sends the `response` record with `status` unless
   * {@linkcode EventInFlight.respond} took the response over (then it is sent
   * when that response ends).
   * @param status The status the client got.
   */
  settle(status: number): void;
}

/** The API events of one proxy. */
export class RequestEvents {
  #o: RequestEventsOptions;
  #streams = new Map<string, EventStream>();
  #warned = new Set<string>();

  /**
   * Creates the events of one proxy; a stream per recorder list is opened
   * on first use.
   * @param options Recorder resolution, stream factory, bounds.
   */
  constructor(options: RequestEventsOptions) {
    this.#o = options;
  }

  /**
   * Whether a decision asks for events.
   * @param decision The caller's decision.
   * @returns True for `enableEvents`.
   */
  wanted(decision: Decision): boolean {
    return decision.enableEvents === true;
  }

  /**
   * Sends the event of a request (fail closed: waits for its ack).
   * @param req The request.
   * @returns The body to forward and the response hook.
   * @throws {EventRefusedError} Fail closed and the event was not
   *   acknowledged (the message says why).
   */
  async begin(req: EventedRequest): Promise<EventInFlight> {
    const o = this.#o;
    const now = o.now ?? Date.now;
    const start = now();
    const { decision, route } = req;
    const enforce = decision.enforceRecorder;
    const verb = verbOf(req.method, route, req.query);
    let body = req.body;
    let event: RequestEventRecord = {
      phase: "request",
      id: (o.newId ?? randomId)(),
      timeMs: start,
      proxy: o.proxyHostname,
      caller: callerOf(req.identity),
      impersonate: { user: decision.user, groups: decision.groups },
      verb,
      method: req.method,
      ...(route.group !== undefined ? { apiGroup: route.group } : {}),
      ...(route.version !== undefined ? { apiVersion: route.version } : {}),
      ...(route.resource !== undefined ? { resource: route.resource } : {}),
      ...(route.subresource !== undefined
        ? { subresource: route.subresource }
        : {}),
      ...(route.namespace !== undefined ? { namespace: route.namespace } : {}),
      ...(route.name !== undefined ? { name: route.name } : {}),
      target: req.target,
      ...(req.upgrade ? { upgrade: true } : {}),
    };
    if (body && capturesBody(verb, route)) {
      const c = await captureBody(body, o.maxBodyBytes ?? 65536);
      body = c.body;
      event = {
        ...event,
        body: describeBody(c.captured, c.truncated, route.resource),
      };
    }
    event = bounded(event);
    if (enforce && event.body) {
      const why = bodyNotHeld(event.body, o.maxBodyBytes ?? 65536);
      if (why) {
        const what = `this ${verb} of ${
          route.subresource
            ? `${route.resource}/${route.subresource}`
            : route.resource
        }`;
        throw new EventBodyRefusedError(
          why.status,
          `execgate: the API events of this caller hold the whole body of requests that start pods, and ${what} ${why.text}; nothing was forwarded`,
        );
      }
    }
    const urls = o.recorderUrls(decision.recorders);
    if (urls.length === 0) {
      const why = decision.recorders.length === 0
        ? "the grant enables events but names no recorder"
        : `no recorder URL is configured for ${decision.recorders.join(", ")}`;
      if (enforce) throw new EventRefusedError(why);
      if (!this.#warned.has(decision.user)) {
        // Once per user (a bounded memory of whom it told).
        if (this.#warned.size >= 10_000) this.#warned.clear();
        this.#warned.add(decision.user);
        o.logger.warn("API events not recorded", {
          user: decision.user,
          reason: why,
        });
      }
      return passThrough(body);
    }
    const stream = this.#stream(urls);
    try {
      await stream.send(event, { wait: enforce });
    } catch (e) {
      if (enforce) throw new EventRefusedError((e as Error).message);
      o.logger.warn("API event not sent (fail open)", {
        eventId: event.id,
        error: (e as Error).message,
      });
    }
    let requestBytes = 0;
    const counted = body ? counting(body, (n) => requestBytes += n) : null;
    let sent = false;
    let headAt = start;
    const end = (status: number, responseBytes: number, error?: string) => {
      if (sent) return;
      sent = true;
      const t = now();
      const rec: ResponseEventRecord = {
        phase: "response",
        id: event.id,
        timeMs: t,
        status,
        latencyMs: (status === 0 ? t : headAt) - start,
        durationMs: t - start,
        requestBytes,
        responseBytes,
        ...(error !== undefined ? { error } : {}),
      };
      stream.send(rec, { wait: enforce }).catch((e) =>
        o.logger.warn("API event response record not acknowledged", {
          eventId: event.id,
          error: (e as Error).message,
        })
      );
    };
    let wrapped = false;
    return {
      body: counted,
      respond(res) {
        wrapped = true;
        headAt = now();
        if (!res.body) {
          end(res.status, 0);
          return res;
        }
        let bytes = 0;
        const out = counting(
          res.body,
          (n) => bytes += n,
          (error) => end(res.status, bytes, error),
        );
        return new Response(out, {
          status: res.status,
          statusText: res.statusText,
          headers: res.headers,
        });
      },
      end: (status, error) => end(status, 0, error),
      settle(status) {
        if (wrapped) return;
        headAt = now();
        end(status, 0);
      },
    };
  }

  /** Ends every events stream. */
  async close(): Promise<void> {
    await Promise.all([...this.#streams.values()].map((s) => s.close()));
    this.#streams.clear();
  }

  #stream(urls: readonly string[]): EventStream {
    const key = urls.join("\n");
    let s = this.#streams.get(key);
    if (!s) {
      s = this.#o.openStream(urls);
      this.#streams.set(key, s);
    }
    return s;
  }
}

/**
 * Largest encoded request record: one that the recorder would refuse would
 * break the stream every other caller's events share, so a caller's own
 * request can never make one.
 */
export const MAX_EVENT_JSON_BYTES = 512 * 1024;

/** The event within {@linkcode MAX_EVENT_JSON_BYTES}: the body's JSON, then the target, left out. */
function bounded(event: RequestEventRecord): RequestEventRecord {
  const size = (e: unknown) =>
    new TextEncoder().encode(JSON.stringify(e)).length;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most events need no encoding.
  if (JSON.stringify(event).length * 3 <= MAX_EVENT_JSON_BYTES) return event;
  if (size(event) <= MAX_EVENT_JSON_BYTES) return event;
  let e = event;
  if (e.body?.json !== undefined) {
    const { json: _, ...rest } = e.body;
    e = { ...e, body: { ...rest, jsonOmitted: "too large for an event" } };
    if (size(e) <= MAX_EVENT_JSON_BYTES) return e;
  }
  return { ...e, target: e.target.slice(0, 8192), targetTruncated: true };
}

function passThrough(body: ReadableStream<Uint8Array> | null): EventInFlight {
  return { body, respond: (r) => r, end: () => {}, settle: () => {} };
}

/**
 * A stream forwarding `src` chunk by chunk (pulled: back-pressure kept),
 * counting bytes, telling `done` once when it ends, errors or is cancelled.
 */
function counting(
  src: ReadableStream<Uint8Array>,
  add: (n: number) => void,
  done?: (error?: string) => void,
): ReadableStream<Uint8Array> {
  const reader = src.getReader();
  let over = false;
  const finish = (error?: string) => {
    if (over) return;
    over = true;
    done?.(error);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        finish((e as Error)?.message ?? String(e));
        controller.error(e);
        return;
      }
      if (r.done) {
        finish();
        controller.close();
        return;
      }
      add(r.value.length);
      controller.enqueue(r.value);
    },
    cancel(reason) {
      finish("the client went away before the response ended");
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Why an event does not hold a body whole, or undefined when it does. */
function bodyNotHeld(
  b: NonNullable<RequestEventRecord["body"]>,
  max: number,
): { status: 413 | 415; text: string } | undefined {
  if (b.truncated) {
    return {
      status: 413,
      text:
        `sends more than ${max} bytes (events.maxBodyBytes of the proxy's configuration)`,
    };
  }
  if (b.jsonOmitted !== undefined) {
    return {
      status: 413,
      text:
        `sends a body too large for one event once Secret values are hashed (${b.jsonOmitted})`,
    };
  }
  if (b.json === undefined && b.bytes > 0) {
    return {
      status: 415,
      text:
        "sends a body that is not one JSON document the proxy can read (YAML, protobuf, or nested past the parser's depth cannot be recorded: send JSON, as kubectl does)",
    };
  }
  return undefined;
}

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

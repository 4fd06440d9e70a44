/**
 * An in-process recorder behind a fake `fetch`, for tests that decide when
 * each byte is acknowledged: it reads the upload body as fast as it comes,
 * decodes the records, and sends `{"ack":n}` only when the test says so
 * (`ack(n)`), except for the header when `autoAckHeader` is on.
 *
 * @module
 */

import {
  RecordDecoder,
  RecordType,
  type SessionRecord,
} from "../protocol/records.ts";

/** A fake upload endpoint. */
export class FakeUpload {
  /** Body bytes received so far. */
  received = 0;
  /** Body bytes acknowledged so far. */
  acked = 0;
  /** Records decoded so far, with their end offset in the body. */
  records: (SessionRecord & { end: number })[] = [];
  /** The body ended (the uploader called finish). */
  bodyEnded = false;
  /** Acknowledge the header record as soon as it is whole. */
  autoAckHeader = true;
  #ctl: ReadableStreamDefaultController<Uint8Array> | undefined;
  #decoder = new RecordDecoder();
  #waiters = new Set<() => void>();

  /** The `fetch` to hand to the uploader. */
  readonly fetch: typeof fetch = (_input, init) => {
    const body = init?.body as ReadableStream<Uint8Array>;
    const acks = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#ctl = c;
      },
    });
    this.#read(body);
    return Promise.resolve(
      new Response(acks, {
        status: 200,
        headers: { "content-type": "application/x-ndjson" },
      }),
    );
  };

  /**
   * Acknowledges body bytes (at most what was received).
   * @param n Total bytes acknowledged.
   */
  ack(n: number): void {
    const to = Math.min(n, this.received);
    if (to <= this.acked) return;
    this.acked = to;
    this.#send({ ack: to, stored: to });
  }

  /** Sends the final `done` line (once everything is acknowledged). */
  done(): void {
    this.ack(this.received);
    this.#send({ ack: this.acked, done: true, id: "fake", complete: true });
  }

  /** The acknowledged records (whole records within the acked prefix). */
  get ackedRecords(): SessionRecord[] {
    return this.records.filter((r) => r.end <= this.acked);
  }

  /** Resolves once `cond()` holds (checked whenever body bytes arrive). */
  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!cond()) return;
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  #send(obj: unknown): void {
    try {
      this.#ctl?.enqueue(new TextEncoder().encode(JSON.stringify(obj) + "\n"));
    } catch { /* the uploader went away */ }
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of body) {
        this.received += chunk.length;
        for (const r of this.#decoder.push(chunk.slice())) {
          const end = r.offset + 13 + r.payload.length;
          this.records.push({ ...r, end });
          if (
            this.autoAckHeader && r.type === RecordType.HEADER &&
            end <= this.received
          ) this.ack(end);
        }
        for (const w of [...this.#waiters]) w();
      }
      this.bodyEnded = true;
    } catch { /* broken by the uploader */ }
    for (const w of [...this.#waiters]) w();
  }
}

import assert from "node:assert/strict";
import { memoryLogger } from "../log.ts";
import type { Policy } from "./policy.ts";
import type { PolicyFs, PolicyWatchHandle } from "./policy_fs.ts";
import { PolicyError } from "../config/config_error.ts";
import { watchPolicy } from "./watch_policy.ts";

const GOOD_1 = `{"acls": [{"action": "accept", "src": ["*"], "dst": ["*"]}]}`;
const GOOD_2 = `{
  "acls": [
    {"action": "accept", "src": ["*"], "dst": ["*"]},
    {"action": "accept", "src": ["bob@example.com"], "dst": ["*"]},
  ],
}`;
const BROKEN = `{
  "acls": [
    {"action": "deny", "src": ["*"], "dst": ["*"]},
  ],
}`;

/** An in-memory file system whose change signals the test sends. */
function memoryFs(initial: string) {
  let text: string | undefined = initial;
  let push: (() => void) | undefined;
  let closed = false;
  const pending: (() => void)[] = [];
  const fs: PolicyFs = {
    readTextFile: () =>
      text === undefined
        ? Promise.reject(new Deno.errors.NotFound("No such file"))
        : Promise.resolve(text),
    watch(): PolicyWatchHandle {
      return {
        close() {
          closed = true;
          push?.();
        },
        async *[Symbol.asyncIterator]() {
          while (!closed) {
            if (pending.length) {
              pending.shift();
              yield;
              continue;
            }
            await new Promise<void>((r) => (push = r));
            push = undefined;
          }
        },
      };
    },
  };
  return {
    fs,
    /** Changes the file and signals it. */
    write(next: string | undefined) {
      text = next;
      pending.push(() => {});
      push?.();
    },
  };
}

/** Resolves with the next call of a callback. */
function nextCall<T>() {
  const waiters: ((v: T) => void)[] = [];
  const cb = (v: T) => waiters.shift()?.(v);
  return {
    cb,
    next: () => new Promise<T>((r) => waiters.push(r)),
  };
}

Deno.test("watchPolicy reloads on change and keeps the last good policy on a broken edit", async () => {
  const mem = memoryFs(GOOD_1);
  const logger = memoryLogger();
  const reloads = nextCall<Policy>();
  const errors = nextCall<Error>();
  const w = await watchPolicy("/etc/execgate/policy.hujson", {
    fs: mem.fs,
    logger,
    onReload: reloads.cb,
    onError: errors.cb,
  });
  try {
    assert.equal(w.policy.acls.length, 1);

    let reloaded = reloads.next();
    mem.write(GOOD_2);
    assert.equal((await reloaded).acls.length, 2);
    assert.equal(w.policy.acls.length, 2);

    const failed = errors.next();
    mem.write(BROKEN);
    const e = await failed;
    assert.ok(e instanceof PolicyError);
    assert.equal(
      e.message,
      '/etc/execgate/policy.hujson:3:16: acls[0].action: unsupported value "deny": expected "accept"',
    );
    assert.equal(w.policy.acls.length, 2, "the last good policy stays");

    const missing = errors.next();
    mem.write(undefined);
    assert.match(
      (await missing).message,
      /^Cannot read policy file "\/etc\/execgate\/policy\.hujson": No such file/,
    );

    reloaded = reloads.next();
    mem.write(GOOD_1);
    assert.equal((await reloaded).acls.length, 1);

    assert.deepEqual(logger.lines.map((l) => [l.level, l.msg]), [
      ["info", "Policy reloaded"],
      ["warn", "Policy reload failed; keeping the last good policy"],
      ["warn", "Policy reload failed; keeping the last good policy"],
      ["info", "Policy reloaded"],
    ]);
    assert.match(String(logger.lines[1]!.error), /acls\[0\]\.action/);
  } finally {
    await w.close();
  }
});

Deno.test("watchPolicy ignores signals that do not change the text", async () => {
  const mem = memoryFs(GOOD_1);
  const logger = memoryLogger();
  const w = await watchPolicy("p.hujson", { fs: mem.fs, logger });
  try {
    assert.equal(await w.reload(), false);
    mem.write(BROKEN);
    // The same broken text is reported once, however often it is read.
    const results = await Promise.all([w.reload(), w.reload(), w.reload()]);
    assert.deepEqual(results, [false, false, false]);
    assert.equal(logger.lines.length, 1);
  } finally {
    await w.close();
  }
});

Deno.test("watchPolicy refuses to start on an invalid file", async () => {
  await assert.rejects(
    () => watchPolicy("p.hujson", { fs: memoryFs(BROKEN).fs }),
    PolicyError,
  );
});

Deno.test("watchPolicy follows a real file replaced on disk", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/policy.hujson`;
  await Deno.writeTextFile(path, GOOD_1);
  const reloads = nextCall<Policy>();
  const errors = nextCall<Error>();
  const w = await watchPolicy(path, {
    logger: memoryLogger(),
    onReload: reloads.cb,
    onError: errors.cb,
  });
  try {
    const failed = errors.next();
    await Deno.writeTextFile(path, BROKEN);
    assert.ok((await failed) instanceof PolicyError);
    assert.equal(w.policy.acls.length, 1);

    // Replace the file the way editors do: write aside, rename over.
    const reloaded = reloads.next();
    await Deno.writeTextFile(`${dir}/.policy.tmp`, GOOD_2);
    await Deno.rename(`${dir}/.policy.tmp`, path);
    assert.equal((await reloaded).acls.length, 2);
    assert.equal(w.policy.acls.length, 2);
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});

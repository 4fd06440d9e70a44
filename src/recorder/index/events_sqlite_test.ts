import { SqliteIndex } from "./sqlite_index.ts";
import { assertEventIndexLikeMemory } from "./_events_index_suite.ts";

Deno.test("SqliteEventIndex answers like MemoryEventIndex, page by page", async () => {
  const sqlite = new SqliteIndex(":memory:");
  try {
    await assertEventIndexLikeMemory(sqlite.events());
  } finally {
    await sqlite.close();
  }
});

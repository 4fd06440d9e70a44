import { startPostgres } from "../../testing/postgres_server.ts";
import { assertEventIndexLikeMemory } from "./_events_index_suite.ts";
import { PostgresIndex } from "./postgres_index.ts";

Deno.test("PostgresEventIndex answers like MemoryEventIndex, page by page, in the recordings' database", async () => {
  const pg = await startPostgres();
  const index = await PostgresIndex.open(pg.url);
  try {
    // Upper-case targets: the search is case-insensitive here too.
    await assertEventIndexLikeMemory(index.events(), "/api/v1/X");
  } finally {
    await index.close();
    await pg.close();
  }
});

/** The segment count of a table's ANN index, from LanceDB's own index statistics (a fresh connection sees the latest version). */
import assert from 'node:assert/strict';
import * as lancedb from '@lancedb/lancedb';

export async function annSegments(dataDir: string, table: string): Promise<number> {
  const db = await lancedb.connect(dataDir);
  const t = await db.openTable(table);
  try {
    const ann = (await t.listIndices()).find((i) => i.indexType.startsWith('Ivf'));
    assert.ok(ann, `table ${table} has an ANN index`);
    return (await t.indexStats(ann.name))!.numIndices!;
  } finally {
    t.close();
    db.close();
  }
}

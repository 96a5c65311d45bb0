// Embedded store disk hygiene LanceDB leaves undone: the empty directories of superseded index versions.
import { readdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Removes the empty `_indices/<uuid>/` directories of a local Lance table whose last change is older than
 * `olderThan`, and returns how many it removed. LanceDB's version cleanup deletes a superseded index's files but
 * not its directory on a local filesystem (lance-format/lance#8320, fixed upstream after the LanceDB release we
 * pin), and every compaction supersedes the full-text and scalar indexes: two empty directories per compaction,
 * without bound (1,076 after a 30-minute soak; 600 after 300 compactions in isolation), each listed again by
 * every later cleanup. Written by hand because no library does this one cleanup. An empty directory is never a
 * build in progress (the object store creates an index's directory with its first file), and `rmdir` refuses a
 * directory that is not empty, so a file written meanwhile is never lost; the age bound is a second guard.
 */
export async function sweepEmptyIndexDirs(tableDir: string, olderThan: number): Promise<number> {
  const indices = path.join(tableDir, '_indices');
  let names: string[];
  try {
    names = await readdir(indices);
  } catch {
    return 0; // no index yet, or not a local table
  }
  let removed = 0;
  for (const name of names) {
    const dir = path.join(indices, name);
    try {
      const info = await stat(dir);
      if (!info.isDirectory() || info.mtimeMs >= olderThan) continue;
      await rmdir(dir); // fails (ENOTEMPTY) unless empty
      removed++;
    } catch {
      // not empty, or gone meanwhile: nothing to do
    }
  }
  return removed;
}

/**
 * `quarry`: the command-line client for a local or remote Quarry engine. bin/quarry runs this file on the
 * project's Node 22 (which strips the types itself); the command tree is in program.ts.
 */
import { main } from './program.ts';

// Exit explicitly: an idle keep-alive socket must not hold the exit back (`up` resolves only once it has stopped).
process.exit(await main(process.argv));

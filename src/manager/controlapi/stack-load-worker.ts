import { parentPort } from 'node:worker_threads';
import { ApiError } from '../../api/errors.ts';
import type { StackSpec } from '../../api/stack.ts';
import { loadStack } from './stack-load.ts';
import type { LoadReply, LoadRequest } from './stack-loader.ts';

/**
 * The worker thread `StackLoader` runs: loads one stack per message with `loadStack`, and
 * answers with the result or the error as plain data. Secret data is zeroed here once it has
 * been posted (posting copies it).
 */
const port = parentPort;
if (!port) throw new Error('stack-load-worker.ts runs only as a worker thread');
port.on('message', (req: LoadRequest) => {
  let reply: LoadReply;
  try {
    reply = { id: req.id, load: loadStack(req.spec as StackSpec) };
  } catch (err) {
    reply = err instanceof ApiError
      ? { id: req.id, error: { code: err.code, message: err.message, details: [...err.details] } }
      : { id: req.id, error: { code: 'internal', message: `loading the stack failed: ${String(err)}`, details: [] } };
  }
  port.postMessage(reply);
  if ('load' in reply && 'loaded' in reply.load) for (const s of reply.load.loaded.secrets) s.data?.fill(0);
});

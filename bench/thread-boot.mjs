// Entry of a bench worker thread: tsx's loader does not reach worker threads by itself (Node 20),
// so it is registered here before the thread's module (workerData.module, a file URL) is loaded.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.module)

// Entry of a bench thread: tsx's loader does not reach worker threads by itself (Node 20).
import { register } from 'tsx/esm/api'

register()
await import('./consensus-group.ts')

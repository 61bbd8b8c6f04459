import { describe, expect, it } from 'vitest'
import { connect, converged, expectNoDuplicateNoGap, makeNode, until } from '../net/replication-fixtures'

describe('replication engine: convergence', () => {
  it('two nodes that follow each other converge', async () => {
    const a = await makeNode({ seed: 1 })
    const b = await makeNode({ seed: 2 })
    await a.contact(b.id, true)
    await b.contact(a.id, true)
    await a.publish(20)
    await b.publish(30)
    connect(a, b)
    await until(converged([a, b], [a.id, b.id]), 'a and b converge')
    expect(b.head(a.id)).toBe(21)
    expect(a.head(b.id)).toBe(31)
    expectNoDuplicateNoGap(a, b.id)
    expectNoDuplicateNoGap(b, a.id)
    await a.close()
    await b.close()
  })
})

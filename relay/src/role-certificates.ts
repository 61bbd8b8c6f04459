import createDebug from 'debug'
import type { MessageId } from '../../src/core/identity/ids'
import type { KeyPair } from '../../src/core/identity/keys'
import {
  checkRoleCertificate,
  deriveRoleKeys,
  MESSAGENODE_ROLES,
  type MessagenodeRole,
  type RoleKeyPair,
  roleCertificateContent,
} from '../../src/core/identity/roles'
import { err, ok, type Result } from '../../src/core/result'
import type { AppendError, FeedStore } from '../../src/store/feed-store'

const log = createDebug('blockfin:relay:roles')

export interface MessagenodeRoles {
  readonly roles: readonly RoleKeyPair[]
  /** Roles whose certificate this call published (all of them on first start, none afterwards). */
  readonly published: readonly MessagenodeRole[]
}

export type RoleCertificateFailure = {
  code: 'ROLE_CERT_PUBLISH_FAILED'
  role: MessagenodeRole
  cause: AppendError
}

/**
 * Derives the relay's Messagenode role keys and makes sure its own feed holds one certificate per
 * role for this network, publishing only the missing ones (so a restart publishes nothing).
 */
export async function ensureMessagenodeRoles(
  options: { readonly owner: KeyPair; readonly networkId: MessageId },
  deps: { readonly store: FeedStore; readonly now: () => number },
): Promise<Result<MessagenodeRoles, RoleCertificateFailure>> {
  const { owner, networkId } = options
  const roles = MESSAGENODE_ROLES.map((role) => deriveRoleKeys(owner, role))
  const certified = new Set<string>()
  for (const text of await deps.store.range(owner.id, 1)) {
    const message = JSON.parse(text) as { author: KeyPair['id']; content: Record<string, unknown> }
    const cert = checkRoleCertificate(message, networkId)
    if (cert.ok) certified.add(`${cert.value.role} ${cert.value.roleId}`)
  }
  const published: MessagenodeRole[] = []
  for (const keys of roles) {
    if (certified.has(`${keys.role} ${keys.id}`)) continue
    const outcome = await deps.store.publish(
      owner,
      { ...roleCertificateContent(keys, networkId) },
      deps.now(),
    )
    const role = keys.role as MessagenodeRole
    if (!outcome.ok) return err({ code: 'ROLE_CERT_PUBLISH_FAILED', role, cause: outcome.error })
    log('published certificate for %s (%s) as %s', role, keys.id, outcome.value.id)
    published.push(role)
  }
  return ok({ roles, published })
}

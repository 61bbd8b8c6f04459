import type { Role } from '../identity/roles'
import { CONTENT } from './content'
import type { ConsensusView } from './view'

/**
 * Publishes what is missing for the node's role keys to count: the owner's certificate of each
 * key (owner feed) and the key's acceptance, which must be the first message of its role feed.
 */
export function publishBindings(view: ConsensusView<unknown, unknown>, roles: readonly Role[]): void {
  const { owner, roleKeys } = view.identity
  for (const role of roles) {
    const roleKey = roleKeys[role]
    if (!roleKey) continue
    if (!view.directory.hasCertificate(owner, roleKey))
      view.publish('owner', {
        type: 'blockfin/role',
        ownerid: owner,
        role,
        roleid: roleKey,
        network: view.genesis.networkId,
      })
    if (!view.directory.hasAcceptance(roleKey))
      view.publish(role, { type: CONTENT.roleOwner, ownerid: owner, role, network: view.genesis.networkId })
  }
}

/**
 * Which owner a role key votes for. A role key counts for an owner only when both sides say so:
 * the owner's feed holds a certificate naming the key (`blockfin/role`, protocol section 1), and
 * the role key's own feed begins with `blockfin/role-owner` naming the owner. The second half is
 * a proof of possession: without it any owner could certify someone else's public role key and
 * claim that key's votes as its own (or make them disputed).
 */
import type { VerifiedMessage } from '../feed/message'
import type { FeedId } from '../identity/ids'
import { checkRoleCertificate, type Role } from '../identity/roles'
import { CONTENT, parseRoleOwner } from './content'

export interface RoleBinding {
  readonly owner: FeedId
  readonly role: Role
  readonly roleKey: FeedId
  /** The owner's certificate and the role feed's first message, exactly as signed: evidence cites them. */
  readonly certificate: string
  readonly acceptance: string
}

export class RoleDirectory {
  /** `${roleKey} ${owner}` → certificate text (an owner may certify several keys; several owners may name one key). */
  private readonly certificates = new Map<string, { role: Role; text: string }>()
  /** roleKey → the role feed's first message. */
  private readonly acceptances = new Map<FeedId, { owner: FeedId; role: Role; text: string }>()
  private readonly bindings = new Map<FeedId, RoleBinding>()
  private readonly byOwner = new Map<string, FeedId[]>()

  constructor(private readonly networkId: string) {}

  /**
   * Takes any stored message; returns the role keys whose binding it completed (or undefined).
   * The caller re-examines what it held back for those keys.
   */
  ingest(message: VerifiedMessage): FeedId | undefined {
    const { content, author, sequence } = message.value
    if (content.type === 'blockfin/role') {
      const cert = checkRoleCertificate(message.value, this.networkId)
      if (!cert.ok) return undefined
      const k = `${cert.value.roleId} ${cert.value.ownerId}`
      if (this.certificates.has(k)) return undefined
      this.certificates.set(k, { role: cert.value.role, text: message.text })
      return this.tryBind(cert.value.roleId)
    }
    if (content.type === CONTENT.roleOwner && sequence === 1) {
      const c = parseRoleOwner(content)
      if (!c || c.network !== this.networkId || this.acceptances.has(author)) return undefined
      this.acceptances.set(author, { owner: c.ownerid, role: c.role, text: message.text })
      return this.tryBind(author)
    }
    return undefined
  }

  private tryBind(roleKey: FeedId): FeedId | undefined {
    if (this.bindings.has(roleKey)) return undefined
    const acceptance = this.acceptances.get(roleKey)
    if (!acceptance) return undefined
    const cert = this.certificates.get(`${roleKey} ${acceptance.owner}`)
    if (!cert || cert.role !== acceptance.role) return undefined
    const binding: RoleBinding = {
      owner: acceptance.owner,
      role: acceptance.role,
      roleKey,
      certificate: cert.text,
      acceptance: acceptance.text,
    }
    this.bindings.set(roleKey, binding)
    const k = `${binding.owner} ${binding.role}`
    const keys = this.byOwner.get(k) ?? []
    keys.push(roleKey)
    this.byOwner.set(k, keys)
    return roleKey
  }

  binding(roleKey: FeedId): RoleBinding | undefined {
    return this.bindings.get(roleKey)
  }

  /** The owner `roleKey` votes for in `role`, or undefined (uncertified, unaccepted, or another role). */
  ownerOf(roleKey: FeedId, role: Role): FeedId | undefined {
    const b = this.bindings.get(roleKey)
    return b && b.role === role ? b.owner : undefined
  }

  /** Every bound key of `owner` in `role`. */
  keysOf(owner: FeedId, role: Role): readonly FeedId[] {
    return this.byOwner.get(`${owner} ${role}`) ?? []
  }

  /** True when the role feed of `roleKey` has begun with its role-owner message. */
  hasAcceptance(roleKey: FeedId): boolean {
    return this.acceptances.has(roleKey)
  }

  /** True when `owner` has certified `roleKey` in its own feed (whether or not the key accepted yet). */
  hasCertificate(owner: FeedId, roleKey: FeedId): boolean {
    return this.certificates.has(`${roleKey} ${owner}`)
  }
}

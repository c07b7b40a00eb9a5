/** Admission: connection slots in total and per client address (spec §3: past a cap, close 4029). */

export class Admission {
  private open = 0
  /** Slots taken per address, and the address as first seen: its sockets all keep that one string. */
  private readonly perAddress = new Map<string, { address: string; taken: number }>()

  constructor(
    private readonly maxConnections: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Takes a slot for `address`: the address to keep (the same string for all of its sockets), or undefined past the total or the per-address cap. */
  reserve(address: string): string | undefined {
    const mine = this.perAddress.get(address)
    if (this.open >= this.maxConnections || (mine?.taken ?? 0) >= this.maxPerAddress) return undefined
    this.open++
    if (!mine) this.perAddress.set(address, { address, taken: 1 })
    else mine.taken++
    return mine?.address ?? address
  }

  release(address: string): void {
    this.open--
    const mine = this.perAddress.get(address)
    if (mine && --mine.taken <= 0) this.perAddress.delete(address)
  }
}

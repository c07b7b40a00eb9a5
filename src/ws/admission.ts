/** Admission: connection slots in total and per client address (spec §3: past a cap, close 4029). */

export class Admission {
  private open = 0
  private readonly perAddress = new Map<string, number>()

  constructor(
    private readonly maxConnections: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Takes a slot for `address`; false past the total or the per-address cap. */
  reserve(address: string): boolean {
    const mine = this.perAddress.get(address) ?? 0
    if (this.open >= this.maxConnections || mine >= this.maxPerAddress) return false
    this.open++
    this.perAddress.set(address, mine + 1)
    return true
  }

  release(address: string): void {
    this.open--
    const mine = (this.perAddress.get(address) ?? 1) - 1
    if (mine <= 0) this.perAddress.delete(address)
    else this.perAddress.set(address, mine)
  }
}

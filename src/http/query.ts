/** Query parameters: whole numbers in a range, or BAD_QUERY. */
import { AppError } from '../errors.ts'

/** A query parameter as a whole number in [min, max]; absent → undefined; anything else → BAD_QUERY. */
export function intParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name)
  if (raw === null) return undefined
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN
  if (!(n >= min && n <= max)) throw new AppError('BAD_QUERY', `${name} must be a whole number from ${min} to ${max}`)
  return n
}

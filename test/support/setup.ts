/** Preloaded by bun test (bunfig.toml): each test starts real servers, so 5 s is too tight on a busy 2-core machine. */
import { setDefaultTimeout } from 'bun:test'

setDefaultTimeout(20_000)

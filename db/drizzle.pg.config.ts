import { defineConfig } from 'drizzle-kit'

/** The PostgreSQL store's migrations; `bun run db:generate` runs this beside ../drizzle.config.ts. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.pg.ts',
  out: './db/migrations-pg',
})

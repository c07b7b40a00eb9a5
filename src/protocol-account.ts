/**
 * Paths of spec §5's account and admin endpoints, beside the protocol's PATHS (which lists the §2
 * ones): the web client reaches them through the SDK, which re-exports them.
 */
export const ACCOUNT_PATHS = {
  password: '/api/v1/users/me/password',
  logout: '/api/v1/logout',
  users: '/api/v1/admin/users',
  role: (id: number) => `/api/v1/admin/users/${id}/role`,
  ban: (id: number) => `/api/v1/admin/users/${id}/ban`,
  resetPassword: (id: number) => `/api/v1/admin/users/${id}/password`,
  invites: '/api/v1/admin/invites',
  invite: (code: string) => `/api/v1/admin/invites/${encodeURIComponent(code)}`,
  settings: '/api/v1/admin/settings',
  audit: '/api/v1/admin/audit',
} as const

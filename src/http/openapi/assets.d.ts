/** The renderer's files, imported as text (Bun's text loader), so `bun build --compile` carries them. */
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const text: string
  export default text
}
declare module 'swagger-ui-dist/swagger-ui.css' {
  const text: string
  export default text
}

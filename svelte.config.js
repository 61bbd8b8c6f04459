/** Svelte compiler options: every component uses runes (Svelte 5). */
export default {
  compilerOptions: { runes: true },
}

/// <reference types="svelte" />
/// <reference types="vite-plugin-pwa/vanillajs" />

interface ImportMetaEnv {
  /** The app's version as shown in the footer (set at build time; absent in ordinary builds). */
  readonly VITE_APP_VERSION?: string
}

import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

/**
 * The browser app: `vite build` writes dist/, which the relay serves. The generated service worker
 * precaches the whole app so a validator tab reloads and runs offline (STACK-NOTES note 11).
 */
export default defineConfig({
  plugins: [
    svelte(),
    VitePWA({
      strategies: 'generateSW',
      // A new version waits until the page agrees to take it (a later issue: only at a safe point).
      registerType: 'prompt',
      injectRegister: false,
      includeAssets: ['favicon.svg'],
      manifest: {
        id: '/',
        name: 'BlockfinBFT validator',
        short_name: 'Blockfin',
        description: 'A BlockfinBFT validator that runs in this browser tab.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f5f7fa',
        theme_color: '#164e8c',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: 'icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        navigateFallback: 'index.html',
        // The relay's API is live data: never answer it from the cache.
        navigateFallbackDenylist: [/^\/api\//],
        // The first install takes control of the open page at once, so it works offline without a reload.
        clientsClaim: true,
        cleanupOutdatedCaches: true,
      },
    }),
  ],
  build: {
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    // `npm run dev`: the relay's API comes from a relay started with `npm start` (or PORT=8080).
    proxy: { '/api': 'http://localhost:8080' },
  },
})

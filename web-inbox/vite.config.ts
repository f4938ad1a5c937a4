import { defineConfig } from 'vite';

// `npm run dev` serves the page on Vite's dev server and forwards the API and the hub to a running Hub
// (HUB_URL, default http://127.0.0.1:5080), so the session cookie stays same-origin.
const hub = process.env.HUB_URL ?? 'http://127.0.0.1:5080';

export default defineConfig({
  base: '/inbox/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: {
    proxy: {
      '/v1': hub,
      '/hubs': { target: hub, ws: true },
    },
  },
});

import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the app with hot reload on http://localhost:5173 and
// forwards the API and Socket.IO to a labtail on LABTAIL_URL (default
// http://127.0.0.1:3000). Start that labtail with
// `--allowed-origin http://localhost:5173` so it accepts the dev origin.
const target = process.env.LABTAIL_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target },
      '/socket.io': { target, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});

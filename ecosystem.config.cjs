// pm2 process file for the server: `pnpm build && npx pm2 start ecosystem.config.cjs`.
// The server reads .env from its working directory (see sample.env); variables already in the
// environment win. A crash is restarted after 2 s, backing off exponentially on repeated crashes.
module.exports = {
  apps: [
    {
      name: "ndn-registry-server",
      script: "server/dist/main.js",
      cwd: __dirname,
      // pm2 executes the file itself, so its shebang sets the node flags and GLIBC_TUNABLES.
      interpreter: "none",
      instances: 1,
      exec_mode: "fork",
      autorestart: true,
      restart_delay: 2000,
      exp_backoff_restart_delay: 2000,
      max_memory_restart: "400M",
      kill_timeout: 5000,
      time: true,
    },
  ],
};

// Svelte pieces both apps use, shipped as source: each app's vite-plugin-svelte compiles them (the `svelte` export condition).
export { contextPair } from './context';
export { GatewayStatus, getGatewayStatus, setGatewayStatus, type GatewayStatusValue } from './gateway-status.svelte';
export { default as StatusLine } from './StatusLine.svelte';

import { mount } from 'svelte';
import App from './App.svelte';
import { startVerifiedBundle } from './sw/verify-status.svelte';
import './app.css';

const target = document.getElementById('app');
if (!target) throw new Error('#app missing from index.html');
// Only a build has a signed release manifest and /sw.js; the dev server serves the sources as they are.
if (import.meta.env.PROD) startVerifiedBundle();
export default mount(App, { target });

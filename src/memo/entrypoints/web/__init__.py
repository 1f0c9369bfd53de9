"""The browser page Memo serves at `/`: static files only, signed in the page by the TypeScript signer."""

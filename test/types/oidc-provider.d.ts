// oidc-provider ships no type declarations; the tests use it as a real OAuth2/OIDC server and
// reach it through its documented JavaScript API.
declare module 'oidc-provider'

import { Ajv } from 'ajv'
import * as fmts from 'ajv-formats'
console.log(typeof Ajv, Object.keys(fmts), typeof (fmts as any).default)

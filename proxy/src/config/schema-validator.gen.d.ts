// Types of the generated ajv standalone validator (schema-validator.gen.js).
import type { ValidateFunction } from 'ajv'
export declare const validate: ValidateFunction
export default validate

/**
 * Twenty's metadata as walhook needs it: which object a workspace table is,
 * which fields it has, and which columns store each field.
 *
 * Facts from twentyhq/twenty (packages/twenty-server):
 * - objects and fields are rows of `core."objectMetadata"` and
 *   `core."fieldMetadata"`; `core."dataSource"` maps a workspace schema to its
 *   workspace. A standard object's table is its `nameSingular`, a custom
 *   object's `_` + `nameSingular`.
 * - a composite field is stored as one column per property, named field name +
 *   capitalised property (`engine/metadata-modules/field-metadata/composite-types/*`,
 *   `computeCompositeColumnName`); the property lists below are those files'.
 * - a MANY_TO_ONE relation is stored in its join column
 *   (`settings.joinColumnName`, e.g. `companyId`); other relation sides have
 *   no column.
 */

/** Properties of each composite type, in Twenty's order. */
export const COMPOSITE_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  FULL_NAME: ['firstName', 'lastName'],
  EMAILS: ['primaryEmail', 'additionalEmails'],
  PHONES: ['primaryPhoneNumber', 'primaryPhoneCountryCode', 'primaryPhoneCallingCode', 'additionalPhones'],
  LINKS: ['primaryLinkLabel', 'primaryLinkUrl', 'secondaryLinks'],
  ADDRESS: ['addressStreet1', 'addressStreet2', 'addressCity', 'addressPostcode', 'addressState', 'addressCountry', 'addressLat', 'addressLng'],
  CURRENCY: ['amountMicros', 'currencyCode'],
  ACTOR: ['source', 'workspaceMemberId', 'name', 'context'],
  RICH_TEXT_V2: ['blocknote', 'markdown'],
};

/** Composite properties stored as `numeric` that Twenty's ORM hands out as JSON numbers. */
const NUMBER_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  CURRENCY: ['amountMicros'],
  ADDRESS: ['addressLat', 'addressLng'],
};

/** One row of core."objectMetadata". */
export interface TwentyObjectRow {
  id: string;
  nameSingular: string;
  isCustom: boolean;
  workspaceId: string;
}

/** One row of core."fieldMetadata" (active fields only). */
export interface TwentyFieldRow {
  objectMetadataId: string;
  name: string;
  type: string;
  settings: Record<string, unknown> | null;
}

export interface TwentyMetadataRows {
  objects: TwentyObjectRow[];
  fields: TwentyFieldRow[];
  /** Workspace schema → workspace id, from core."dataSource". */
  dataSources: { schema: string; workspaceId: string }[];
  /** Workspace members and their user, for `userId`. */
  members: { workspaceId: string; id: string; userId: string | null }[];
}

/** Where one value of a field sits in the table. */
export interface FieldColumn {
  column: string;
  /** The composite property the column stores; null for a one-column field. */
  property: string | null;
  /** A numeric composite property sent as a JSON number. */
  asNumber: boolean;
}

export interface TwentyField {
  name: string;
  type: string;
  /** Empty for relation sides without a join column. */
  columns: FieldColumn[];
  /** A relation: sent as its join column, never listed in updatedFields by name. */
  isRelation: boolean;
}

export interface TwentyObject {
  /** core."objectMetadata".id: what Twenty sends as `objectMetadata.id`. */
  id: string;
  nameSingular: string;
  workspaceId: string;
  fields: readonly TwentyField[];
  /** Column → the field it stores. */
  fieldOfColumn: ReadonlyMap<string, TwentyField>;
  /** Field name → field. */
  fieldByName: ReadonlyMap<string, TwentyField>;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function fieldColumns(field: Pick<TwentyFieldRow, 'name' | 'type' | 'settings'>): FieldColumn[] {
  const properties = COMPOSITE_PROPERTIES[field.type];
  if (properties) {
    const numbers = NUMBER_PROPERTIES[field.type] ?? [];
    return properties.map((property) => ({ column: `${field.name}${capitalise(property)}`, property, asNumber: numbers.includes(property) }));
  }
  if (field.type === 'RELATION' || field.type === 'MORPH_RELATION') {
    const join = field.settings?.joinColumnName;
    return typeof join === 'string' && join !== '' ? [{ column: join, property: null, asNumber: false }] : [];
  }
  return [{ column: field.name, property: null, asNumber: false }];
}

/** The metadata of every workspace, indexed for the lookups made per change. */
export class TwentyMetadata {
  private readonly objects = new Map<string, TwentyObject>();
  private readonly workspaces = new Map<string, string>();
  private readonly users = new Map<string, string>();

  constructor(rows: TwentyMetadataRows) {
    for (const { schema, workspaceId } of rows.dataSources) this.workspaces.set(schema, workspaceId);
    for (const { workspaceId, id, userId } of rows.members) if (userId !== null) this.users.set(`${workspaceId}/${id}`, userId);
    const fieldsOf = new Map<string, TwentyField[]>();
    for (const row of rows.fields) {
      const field: TwentyField = {
        name: row.name,
        type: row.type,
        columns: fieldColumns(row),
        isRelation: row.type === 'RELATION' || row.type === 'MORPH_RELATION',
      };
      const list = fieldsOf.get(row.objectMetadataId) ?? [];
      list.push(field);
      fieldsOf.set(row.objectMetadataId, list);
    }
    for (const row of rows.objects) {
      const fields = fieldsOf.get(row.id) ?? [];
      const fieldOfColumn = new Map<string, TwentyField>();
      for (const field of fields) for (const { column } of field.columns) fieldOfColumn.set(column, field);
      const table = row.isCustom ? `_${row.nameSingular}` : row.nameSingular;
      this.objects.set(`${row.workspaceId}/${table}`, {
        id: row.id,
        nameSingular: row.nameSingular,
        workspaceId: row.workspaceId,
        fields,
        fieldOfColumn,
        fieldByName: new Map(fields.map((field) => [field.name, field])),
      });
    }
  }

  /** The workspace of a schema, per core."dataSource"; undefined for a schema Twenty does not know. */
  workspaceOf(schema: string): string | undefined {
    return this.workspaces.get(schema);
  }

  object(workspaceId: string, table: string): TwentyObject | undefined {
    return this.objects.get(`${workspaceId}/${table}`);
  }

  userIdOf(workspaceId: string, workspaceMemberId: string): string | undefined {
    return this.users.get(`${workspaceId}/${workspaceMemberId}`);
  }

  get objectCount(): number {
    return this.objects.size;
  }

  get workspaceCount(): number {
    return this.workspaces.size;
  }
}

"""R4 invariants: the shipped extract is the official text, and each check behaves as R4 says.

``OFFICIAL`` is every error-severity constraint (other than ele-1, txt-1 and txt-2) that the
``hl7.fhir.r4.core`` 4.0.1 package's resources and complex types define, copied from the package:
(type, element path, key, expression). ``scripts/extract_r4_invariants.py --check PACKAGE`` compares
the extract with the package itself.
"""

import copy
import json

import pytest
from fhirpathpy.engine.nodes import ResourceNode

from sicdoc.errors import InvalidInput
from sicdoc.fhir import invariants
from sicdoc.fhir.validation import validate_resource
from tests.conftest import synthea_bundles

OFFICIAL = [
    (
        "Age",
        "Age",
        "age-1",
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and (value.empty() or value.hasValue().not() or value > 0)",
    ),
    (
        "AllergyIntolerance",
        "AllergyIntolerance",
        "ait-1",
        "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').exists() or clinicalStatus.exists()",
    ),
    (
        "AllergyIntolerance",
        "AllergyIntolerance",
        "ait-2",
        "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').empty() or clinicalStatus.empty()",
    ),
    ("Appointment", "Appointment", "app-2", "start.exists() = end.exists()"),
    (
        "Appointment",
        "Appointment",
        "app-3",
        "(start.exists() and end.exists()) or (status in ('proposed' | 'cancelled' | 'waitlist'))",
    ),
    (
        "Appointment",
        "Appointment",
        "app-4",
        "Appointment.cancelationReason.exists() implies (Appointment.status='no-show' or Appointment.status='cancelled')",
    ),
    ("Appointment", "Appointment.participant", "app-1", "type.exists() or actor.exists()"),
    ("AppointmentResponse", "AppointmentResponse", "apr-1", "participantType.exists() or actor.exists()"),
    ("Attachment", "Attachment", "att-1", "data.empty() or contentType.exists()"),
    ("AuditEvent", "AuditEvent.entity", "sev-1", "name.empty() or query.empty()"),
    ("Bundle", "Bundle", "bdl-1", "total.empty() or (type = 'searchset') or (type = 'history')"),
    ("Bundle", "Bundle", "bdl-10", "type = 'document' implies (timestamp.hasValue())"),
    ("Bundle", "Bundle", "bdl-11", "type = 'document' implies entry.first().resource.is(Composition)"),
    ("Bundle", "Bundle", "bdl-12", "type = 'message' implies entry.first().resource.is(MessageHeader)"),
    ("Bundle", "Bundle", "bdl-2", "entry.search.empty() or (type = 'searchset')"),
    (
        "Bundle",
        "Bundle",
        "bdl-3",
        "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))",
    ),
    (
        "Bundle",
        "Bundle",
        "bdl-4",
        "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))",
    ),
    (
        "Bundle",
        "Bundle",
        "bdl-7",
        "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
    ),
    (
        "Bundle",
        "Bundle",
        "bdl-9",
        "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
    ),
    ("Bundle", "Bundle.entry", "bdl-5", "resource.exists() or request.exists() or response.exists()"),
    ("Bundle", "Bundle.entry", "bdl-8", "fullUrl.contains('/_history/').not()"),
    (
        "CapabilityStatement",
        "CapabilityStatement",
        "cpb-1",
        "rest.exists() or messaging.exists() or document.exists()",
    ),
    (
        "CapabilityStatement",
        "CapabilityStatement",
        "cpb-14",
        "(kind != 'instance') or implementation.exists()",
    ),
    (
        "CapabilityStatement",
        "CapabilityStatement",
        "cpb-15",
        "(kind != 'capability') or (implementation.exists().not() and software.exists())",
    ),
    (
        "CapabilityStatement",
        "CapabilityStatement",
        "cpb-16",
        "(kind!='requirements') or (implementation.exists().not() and software.exists().not())",
    ),
    (
        "CapabilityStatement",
        "CapabilityStatement",
        "cpb-2",
        "(description.count() + software.count() + implementation.count()) > 0",
    ),
    (
        "CapabilityStatement",
        "CapabilityStatement",
        "cpb-3",
        "messaging.endpoint.empty() or kind = 'instance'",
    ),
    ("CapabilityStatement", "CapabilityStatement", "cpb-7", "document.select(profile&mode).isDistinct()"),
    ("CapabilityStatement", "CapabilityStatement.rest", "cpb-9", "resource.select(type).isDistinct()"),
    (
        "CapabilityStatement",
        "CapabilityStatement.rest.resource",
        "cpb-12",
        "searchParam.select(name).isDistinct()",
    ),
    ("CarePlan", "CarePlan.activity", "cpl-3", "detail.empty() or reference.empty()"),
    (
        "CareTeam",
        "CareTeam.participant",
        "ctm-1",
        "onBehalfOf.exists() implies (member.resolve().iif(empty(), true, ofType(Practitioner).exists()))",
    ),
    (
        "CodeSystem",
        "CodeSystem",
        "csd-1",
        "concept.code.combine($this.descendants().concept.code).isDistinct()",
    ),
    ("Composition", "Composition.section", "cmp-1", "text.exists() or entry.exists() or section.exists()"),
    ("Composition", "Composition.section", "cmp-2", "emptyReason.empty() or entry.empty()"),
    (
        "ConceptMap",
        "ConceptMap.group.element.target",
        "cmd-1",
        "comment.exists() or equivalence.empty() or ((equivalence != 'narrower') and (equivalence != 'inexact'))",
    ),
    ("ConceptMap", "ConceptMap.group.unmapped", "cmd-2", "(mode = 'fixed') implies code.exists()"),
    ("ConceptMap", "ConceptMap.group.unmapped", "cmd-3", "(mode = 'other-map') implies url.exists()"),
    (
        "Condition",
        "Condition",
        "con-4",
        "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()",
    ),
    (
        "Condition",
        "Condition",
        "con-5",
        "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()",
    ),
    ("Condition", "Condition.evidence", "con-2", "code.exists() or detail.exists()"),
    ("Condition", "Condition.stage", "con-1", "summary.exists() or assessment.exists()"),
    ("Consent", "Consent", "ppc-1", "policy.exists() or policyRule.exists()"),
    (
        "Consent",
        "Consent",
        "ppc-2",
        "patient.exists() or scope.coding.where(system='something' and code='patient-privacy').exists().not()",
    ),
    (
        "Consent",
        "Consent",
        "ppc-3",
        "patient.exists() or scope.coding.where(system='something' and code='research').exists().not()",
    ),
    (
        "Consent",
        "Consent",
        "ppc-4",
        "patient.exists() or scope.coding.where(system='something' and code='adr').exists().not()",
    ),
    (
        "Consent",
        "Consent",
        "ppc-5",
        "patient.exists() or scope.coding.where(system='something' and code='treatment').exists().not()",
    ),
    ("ContactPoint", "ContactPoint", "cpt-2", "value.empty() or system.exists()"),
    (
        "Count",
        "Count",
        "cnt-3",
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and (code.empty() or code = '1') and (value.empty() or value.hasValue().not() or value.toString().contains('.').not())",
    ),
    (
        "CoverageEligibilityResponse",
        "CoverageEligibilityResponse.insurance.item",
        "ces-1",
        "category.exists() xor productOrService.exists()",
    ),
    ("DataRequirement", "DataRequirement.codeFilter", "drq-1", "path.exists() xor searchParam.exists()"),
    ("DataRequirement", "DataRequirement.dateFilter", "drq-2", "path.exists() xor searchParam.exists()"),
    (
        "Distance",
        "Distance",
        "dis-1",
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum)",
    ),
    ("DomainResource", "DomainResource", "dom-2", "contained.contained.empty()"),
    (
        "DomainResource",
        "DomainResource",
        "dom-3",
        "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()",
    ),
    (
        "DomainResource",
        "DomainResource",
        "dom-4",
        "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
    ),
    ("DomainResource", "DomainResource", "dom-5", "contained.meta.security.empty()"),
    ("Duration", "Duration", "drt-1", "code.exists() implies ((system = %ucum) and value.exists())"),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-11",
        "binding.empty() or type.code.empty() or type.select((code = 'code') or (code = 'Coding') or (code='CodeableConcept') or (code = 'Quantity') or (code = 'string') or (code = 'uri')).exists()",
    ),
    ("ElementDefinition", "ElementDefinition", "eld-13", "type.select(code).isDistinct()"),
    ("ElementDefinition", "ElementDefinition", "eld-14", "constraint.select(key).isDistinct()"),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-15",
        "defaultValue.empty() or meaningWhenMissing.empty()",
    ),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-16",
        "sliceName.empty() or sliceName.matches('^[a-zA-Z0-9\\\\/\\\\-_\\\\[\\\\]\\\\@]+$')",
    ),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-18",
        "(isModifier.exists() and isModifier) implies isModifierReason.exists()",
    ),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-19",
        "path.matches('[^\\\\s\\\\.,:;\\\\\\'\"\\\\/|?!@#$%&*()\\\\[\\\\]{}]{1,64}(\\\\.[^\\\\s\\\\.,:;\\\\\\'\"\\\\/|?!@#$%&*()\\\\[\\\\]{}]{1,64}(\\\\[x\\\\])?(\\\\:[^\\\\s\\\\.]+)?)*')",
    ),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-2",
        "min.empty() or max.empty() or (max = '*') or iif(max != '*', min <= max.toInteger())",
    ),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-22",
        "sliceIsConstraining.exists() implies sliceName.exists()",
    ),
    (
        "ElementDefinition",
        "ElementDefinition",
        "eld-5",
        "contentReference.empty() or (type.empty() and defaultValue.empty() and fixed.empty() and pattern.empty() and example.empty() and minValue.empty() and maxValue.empty() and maxLength.empty() and binding.empty())",
    ),
    ("ElementDefinition", "ElementDefinition", "eld-6", "fixed.empty() or (type.count()  <= 1)"),
    ("ElementDefinition", "ElementDefinition", "eld-7", "pattern.empty() or (type.count() <= 1)"),
    ("ElementDefinition", "ElementDefinition", "eld-8", "pattern.empty() or fixed.empty()"),
    (
        "ElementDefinition",
        "ElementDefinition.binding",
        "eld-12",
        "valueSet.exists() implies (valueSet.startsWith('http:') or valueSet.startsWith('https') or valueSet.startsWith('urn:'))",
    ),
    ("ElementDefinition", "ElementDefinition.max", "eld-3", "empty() or ($this = '*') or (toInteger() >= 0)"),
    (
        "ElementDefinition",
        "ElementDefinition.slicing",
        "eld-1",
        "discriminator.exists() or description.exists()",
    ),
    (
        "ElementDefinition",
        "ElementDefinition.type",
        "eld-17",
        "(code='Reference' or code = 'canonical') or targetProfile.empty()",
    ),
    (
        "ElementDefinition",
        "ElementDefinition.type",
        "eld-4",
        "aggregation.empty() or (code = 'Reference') or (code = 'canonical')",
    ),
    ("Expression", "Expression", "exp-1", "expression.exists() or reference.exists()"),
    ("Extension", "Extension", "ext-1", "extension.exists() != value.exists()"),
    ("FamilyMemberHistory", "FamilyMemberHistory", "fhs-1", "age.empty() or born.empty()"),
    ("FamilyMemberHistory", "FamilyMemberHistory", "fhs-2", "age.exists() or estimatedAge.empty()"),
    ("Goal", "Goal.target", "gol-1", "(detail.exists() and measure.exists()) or detail.exists().not()"),
    ("Group", "Group", "grp-1", "member.empty() or (actual = true)"),
    ("Immunization", "Immunization.education", "imm-1", "documentType.exists() or reference.exists()"),
    (
        "ImmunizationRecommendation",
        "ImmunizationRecommendation.recommendation",
        "imr-1",
        "vaccineCode.exists() or targetDisease.exists()",
    ),
    (
        "ImplementationGuide",
        "ImplementationGuide",
        "ig-2",
        "definition.resource.fhirVersion.all(%context.fhirVersion contains $this)",
    ),
    (
        "ImplementationGuide",
        "ImplementationGuide.definition",
        "ig-1",
        "resource.groupingId.all(%context.grouping.id contains $this)",
    ),
    ("InsurancePlan", "InsurancePlan", "ipn-1", "(identifier.count() + name.count()) > 0"),
    ("Linkage", "Linkage", "lnk-1", "item.count()>1"),
    ("List", "List", "lst-1", "emptyReason.empty() or entry.empty()"),
    ("List", "List", "lst-2", "mode = 'changes' or entry.deleted.empty()"),
    ("List", "List", "lst-3", "mode = 'working' or entry.date.empty()"),
    (
        "Measure",
        "Measure",
        "mea-1",
        "group.stratifier.all((code | description | criteria).exists() xor component.exists())",
    ),
    ("MeasureReport", "MeasureReport", "mrp-1", "(type != 'data-collection') or group.exists().not()"),
    (
        "MeasureReport",
        "MeasureReport",
        "mrp-2",
        "group.stratifier.stratum.all(value.exists() xor component.exists())",
    ),
    (
        "MedicationAdministration",
        "MedicationAdministration.dosage",
        "mad-1",
        "dose.exists() or rate.exists()",
    ),
    (
        "MedicationDispense",
        "MedicationDispense",
        "mdd-1",
        "whenHandedOver.empty() or whenPrepared.empty() or whenHandedOver >= whenPrepared",
    ),
    ("MessageDefinition", "MessageDefinition.focus", "md-1", "max='*' or (max.toInteger() > 0)"),
    ("MolecularSequence", "MolecularSequence", "msq-3", "coordinateSystem = 1 or coordinateSystem = 0"),
    (
        "MolecularSequence",
        "MolecularSequence.referenceSeq",
        "msq-5",
        "(chromosome.empty() and genomeBuild.empty()) or (chromosome.exists() and genomeBuild.exists())",
    ),
    (
        "MolecularSequence",
        "MolecularSequence.referenceSeq",
        "msq-6",
        "(genomeBuild.count()+referenceSeqId.count()+ referenceSeqPointer.count()+ referenceSeqString.count()) = 1",
    ),
    ("NamingSystem", "NamingSystem", "nsd-1", "kind != 'root' or uniqueId.all(type != 'uuid')"),
    ("NamingSystem", "NamingSystem", "nsd-2", "uniqueId.where(preferred = true).select(type).isDistinct()"),
    ("Observation", "Observation", "obs-6", "dataAbsentReason.empty() or value.empty()"),
    (
        "Observation",
        "Observation",
        "obs-7",
        "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
    ),
    ("Observation", "Observation.referenceRange", "obs-3", "low.exists() or high.exists() or text.exists()"),
    ("OperationDefinition", "OperationDefinition.parameter", "opd-1", "type.exists() or part.exists()"),
    (
        "OperationDefinition",
        "OperationDefinition.parameter",
        "opd-2",
        "searchType.exists() implies type = 'string'",
    ),
    (
        "OperationDefinition",
        "OperationDefinition.parameter",
        "opd-3",
        "targetProfile.exists() implies (type = 'Reference' or type = 'canonical')",
    ),
    ("Organization", "Organization", "org-1", "(identifier.count() + name.count()) > 0"),
    ("Organization", "Organization.address", "org-2", "where(use = 'home').empty()"),
    ("Organization", "Organization.telecom", "org-3", "where(use = 'home').empty()"),
    (
        "Parameters",
        "Parameters.parameter",
        "inv-1",
        "(part.exists() and value.empty() and resource.empty()) or (part.empty() and (value.exists() xor resource.exists()))",
    ),
    (
        "Patient",
        "Patient.contact",
        "pat-1",
        "name.exists() or telecom.exists() or address.exists() or organization.exists()",
    ),
    ("Period", "Period", "per-1", "start.hasValue().not() or end.hasValue().not() or (start <= end)"),
    ("Quantity", "Quantity", "qty-3", "code.empty() or system.exists()"),
    ("Questionnaire", "Questionnaire", "que-2", "descendants().linkId.isDistinct()"),
    (
        "Questionnaire",
        "Questionnaire.item",
        "que-1",
        "(type='group' implies item.empty().not()) and (type.trace('type')='display' implies item.trace('item').empty())",
    ),
    (
        "Questionnaire",
        "Questionnaire.item",
        "que-10",
        "(type in ('boolean' | 'decimal' | 'integer' | 'string' | 'text' | 'url' | 'open-choice')) or maxLength.empty()",
    ),
    ("Questionnaire", "Questionnaire.item", "que-11", "answerOption.empty() or initial.empty()"),
    (
        "Questionnaire",
        "Questionnaire.item",
        "que-12",
        "enableWhen.count() > 2 implies enableBehavior.exists()",
    ),
    ("Questionnaire", "Questionnaire.item", "que-13", "repeats=true or initial.count() <= 1"),
    ("Questionnaire", "Questionnaire.item", "que-3", "type!='display' or code.empty()"),
    ("Questionnaire", "Questionnaire.item", "que-4", "answerOption.empty() or answerValueSet.empty()"),
    (
        "Questionnaire",
        "Questionnaire.item",
        "que-5",
        "(type ='choice' or type = 'open-choice' or type = 'decimal' or type = 'integer' or type = 'date' or type = 'dateTime' or type = 'time' or type = 'string' or type = 'quantity') or (answerValueSet.empty() and answerOption.empty())",
    ),
    (
        "Questionnaire",
        "Questionnaire.item",
        "que-6",
        "type!='display' or (required.empty() and repeats.empty())",
    ),
    (
        "Questionnaire",
        "Questionnaire.item",
        "que-8",
        "(type!='group' and type!='display') or initial.empty()",
    ),
    ("Questionnaire", "Questionnaire.item", "que-9", "type!='display' or readOnly.empty()"),
    (
        "Questionnaire",
        "Questionnaire.item.enableWhen",
        "que-7",
        "operator = 'exists' implies (answer is Boolean)",
    ),
    (
        "QuestionnaireResponse",
        "QuestionnaireResponse.item",
        "qrs-1",
        "(answer.exists() and item.exists()).not()",
    ),
    ("Range", "Range", "rng-2", "low.empty() or high.empty() or (low <= high)"),
    (
        "Ratio",
        "Ratio",
        "rat-1",
        "(numerator.empty() xor denominator.exists()) and (numerator.exists() or extension.exists())",
    ),
    (
        "Reference",
        "Reference",
        "ref-1",
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))",
    ),
    ("RequestGroup", "RequestGroup.action", "rqg-1", "resource.exists() != action.exists()"),
    (
        "RiskAssessment",
        "RiskAssessment.prediction",
        "ras-2",
        "probability is decimal implies (probability as decimal) <= 100",
    ),
    (
        "RiskAssessment",
        "RiskAssessment.prediction.probability[x]",
        "ras-1",
        "(low.empty() or ((low.code = '%') and (low.system = %ucum))) and (high.empty() or ((high.code = '%') and (high.system = %ucum)))",
    ),
    ("SearchParameter", "SearchParameter", "spd-1", "xpath.empty() or xpathUsage.exists()"),
    ("SearchParameter", "SearchParameter", "spd-2", "chain.empty() or type = 'reference'"),
    ("ServiceRequest", "ServiceRequest", "prr-1", "orderDetail.empty() or code.exists()"),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-1",
        "derivation = 'constraint' or snapshot.element.select(path).isDistinct()",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-11",
        "kind != 'logical' implies snapshot.empty() or snapshot.element.first().path = type",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-14",
        "snapshot.element.all(id.exists()) and differential.element.all(id.exists())",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-15",
        "kind!='logical' implies snapshot.element.first().type.empty()",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-15a",
        "(kind!='logical'  and differential.element.first().path.contains('.').not()) implies differential.element.first().type.empty()",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-16",
        "snapshot.element.all(id.exists()) and snapshot.element.id.trace('ids').isDistinct()",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-17",
        "differential.element.all(id.exists()) and differential.element.id.trace('ids').isDistinct()",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-18",
        "contextInvariant.exists() implies type = 'Extension'",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-19",
        "url.startsWith('http://hl7.org/fhir/StructureDefinition') implies (differential.element.type.code.all(matches('^[a-zA-Z0-9]+$') or matches('^http:\\\\/\\\\/hl7\\\\.org\\\\/fhirpath\\\\/System\\\\.[A-Z][A-Za-z]+$')) and snapshot.element.type.code.all(matches('^[a-zA-Z0-9\\\\.]+$') or matches('^http:\\\\/\\\\/hl7\\\\.org\\\\/fhirpath\\\\/System\\\\.[A-Z][A-Za-z]+$')))",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-21",
        "differential.element.defaultValue.exists() implies (derivation = 'specialization')",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-22",
        "url.startsWith('http://hl7.org/fhir/StructureDefinition') implies (snapshot.element.defaultValue.empty() and differential.element.defaultValue.empty())",
    ),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-23",
        "(snapshot | differential).element.all(path.contains('.').not() implies sliceName.empty())",
    ),
    ("StructureDefinition", "StructureDefinition", "sdf-4", "abstract = true or baseDefinition.exists()"),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-5",
        "type != 'Extension' or derivation = 'specialization' or (context.exists())",
    ),
    ("StructureDefinition", "StructureDefinition", "sdf-6", "snapshot.exists() or differential.exists()"),
    (
        "StructureDefinition",
        "StructureDefinition",
        "sdf-9",
        "children().element.where(path.contains('.').not()).label.empty() and children().element.where(path.contains('.').not()).code.empty() and children().element.where(path.contains('.').not()).requirements.empty()",
    ),
    (
        "StructureDefinition",
        "StructureDefinition.differential",
        "sdf-20",
        "element.where(path.contains('.').not()).slicing.empty()",
    ),
    (
        "StructureDefinition",
        "StructureDefinition.differential",
        "sdf-8a",
        "(%resource.kind = 'logical' or element.first().path.startsWith(%resource.type)) and (element.tail().empty() or element.tail().all(path.startsWith(%resource.differential.element.first().path.replaceMatches('\\\\..*','')&'.')))",
    ),
    ("StructureDefinition", "StructureDefinition.mapping", "sdf-2", "name.exists() or uri.exists()"),
    (
        "StructureDefinition",
        "StructureDefinition.snapshot",
        "sdf-3",
        "element.all(definition.exists() and min.exists() and max.exists())",
    ),
    (
        "StructureDefinition",
        "StructureDefinition.snapshot",
        "sdf-8",
        "(%resource.kind = 'logical' or element.first().path = %resource.type) and element.tail().all(path.startsWith(%resource.snapshot.element.first().path&'.'))",
    ),
    ("StructureDefinition", "StructureDefinition.snapshot", "sdf-8b", "element.all(base.exists())"),
    (
        "StructureDefinition",
        "StructureDefinition.snapshot.element",
        "sdf-10",
        "binding.empty() or binding.valueSet.exists() or binding.description.exists()",
    ),
    ("StructureMap", "StructureMap.group.rule.target", "smp-1", "element.exists() implies context.exists()"),
    (
        "StructureMap",
        "StructureMap.group.rule.target",
        "smp-2",
        "context.exists() implies contextType.exists()",
    ),
    (
        "Task",
        "Task",
        "inv-1",
        "lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn",
    ),
    (
        "TerminologyCapabilities",
        "TerminologyCapabilities",
        "tcp-2",
        "(description.count() + software.count() + implementation.count()) > 0",
    ),
    (
        "TerminologyCapabilities",
        "TerminologyCapabilities",
        "tcp-3",
        "(kind != 'instance') or implementation.exists()",
    ),
    (
        "TerminologyCapabilities",
        "TerminologyCapabilities",
        "tcp-4",
        "(kind != 'capability') or (implementation.exists().not() and software.exists())",
    ),
    (
        "TerminologyCapabilities",
        "TerminologyCapabilities",
        "tcp-5",
        "(kind!='requirements') or (implementation.exists().not() and software.exists().not())",
    ),
    (
        "TerminologyCapabilities",
        "TerminologyCapabilities.codeSystem",
        "tcp-1",
        "version.count() > 1 implies version.all(code.exists())",
    ),
    ("TestReport", "TestReport.setup.action", "inv-1", "operation.exists() xor assert.exists()"),
    ("TestReport", "TestReport.test.action", "inv-2", "operation.exists() xor assert.exists()"),
    (
        "TestScript",
        "TestScript.metadata",
        "tst-4",
        "capability.required.exists() or capability.validated.exists()",
    ),
    ("TestScript", "TestScript.setup.action", "tst-1", "operation.exists() xor assert.exists()"),
    (
        "TestScript",
        "TestScript.setup.action.assert",
        "tst-10",
        "compareToSourceId.empty() xor (compareToSourceExpression.exists() or compareToSourcePath.exists())",
    ),
    (
        "TestScript",
        "TestScript.setup.action.assert",
        "tst-12",
        "(response.empty() and responseCode.empty() and direction = 'request') or direction.empty() or direction = 'response'",
    ),
    (
        "TestScript",
        "TestScript.setup.action.assert",
        "tst-5",
        "extension.exists() or (contentType.count() + expression.count() + headerField.count() + minimumId.count() + navigationLinks.count() + path.count() + requestMethod.count() + resource.count() + responseCode.count() + response.count()  + validateProfileId.count() <=1)",
    ),
    (
        "TestScript",
        "TestScript.setup.action.operation",
        "tst-7",
        "sourceId.exists() or (targetId.count() + url.count() + params.count() = 1) or (type.code in ('capabilities' |'search' | 'transaction' | 'history'))",
    ),
    (
        "TestScript",
        "TestScript.teardown.action.operation",
        "tst-9",
        "sourceId.exists() or (targetId.count() + url.count() + params.count() = 1) or (type.code in ('capabilities' | 'search' | 'transaction' | 'history'))",
    ),
    ("TestScript", "TestScript.test.action", "tst-2", "operation.exists() xor assert.exists()"),
    (
        "TestScript",
        "TestScript.test.action.assert",
        "tst-11",
        "compareToSourceId.empty() xor (compareToSourceExpression.exists() or compareToSourcePath.exists())",
    ),
    (
        "TestScript",
        "TestScript.test.action.assert",
        "tst-13",
        "(response.empty() and responseCode.empty() and direction = 'request') or direction.empty() or direction = 'response'",
    ),
    (
        "TestScript",
        "TestScript.test.action.assert",
        "tst-6",
        "extension.exists() or (contentType.count() + expression.count() + headerField.count() + minimumId.count() + navigationLinks.count() + path.count() + requestMethod.count() + resource.count() + responseCode.count() + response.count() + validateProfileId.count() <=1)",
    ),
    (
        "TestScript",
        "TestScript.test.action.operation",
        "tst-8",
        "sourceId.exists() or (targetId.count() + url.count() + params.count() = 1) or (type.code in ('capabilities' | 'search' | 'transaction' | 'history'))",
    ),
    (
        "TestScript",
        "TestScript.variable",
        "tst-3",
        "expression.empty() or headerField.empty() or path.empty()",
    ),
    ("Timing", "Timing.repeat", "tim-1", "duration.empty() or durationUnit.exists()"),
    ("Timing", "Timing.repeat", "tim-10", "timeOfDay.empty() or when.empty()"),
    ("Timing", "Timing.repeat", "tim-2", "period.empty() or periodUnit.exists()"),
    ("Timing", "Timing.repeat", "tim-4", "duration.exists() implies duration >= 0"),
    ("Timing", "Timing.repeat", "tim-5", "period.exists() implies period >= 0"),
    ("Timing", "Timing.repeat", "tim-6", "periodMax.empty() or period.exists()"),
    ("Timing", "Timing.repeat", "tim-7", "durationMax.empty() or duration.exists()"),
    ("Timing", "Timing.repeat", "tim-8", "countMax.empty() or count.exists()"),
    (
        "Timing",
        "Timing.repeat",
        "tim-9",
        "offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))",
    ),
    ("TriggerDefinition", "TriggerDefinition", "trd-1", "data.empty() or timing.empty()"),
    ("TriggerDefinition", "TriggerDefinition", "trd-2", "condition.exists() implies data.exists()"),
    (
        "TriggerDefinition",
        "TriggerDefinition",
        "trd-3",
        "(type = 'named-event' implies name.exists()) and (type = 'periodic' implies timing.exists()) and (type.startsWith('data-') implies data.exists())",
    ),
    ("ValueSet", "ValueSet.compose.include", "vsd-1", "valueSet.exists() or system.exists()"),
    (
        "ValueSet",
        "ValueSet.compose.include",
        "vsd-2",
        "(concept.exists() or filter.exists()) implies system.exists()",
    ),
    ("ValueSet", "ValueSet.compose.include", "vsd-3", "concept.empty() or filter.empty()"),
    ("ValueSet", "ValueSet.expansion.contains", "vsd-10", "code.empty() or system.exists()"),
    ("ValueSet", "ValueSet.expansion.contains", "vsd-6", "code.exists() or display.exists()"),
    ("ValueSet", "ValueSet.expansion.contains", "vsd-9", "code.exists() or abstract = true"),
]


def extract_rows():
    return sorted(
        (type_name, path, key, expression)
        for type_name, rows in invariants.extract()["constraints"].items()
        for path, key, expression, _human in rows
    )


def test_the_extract_says_where_it_comes_from():
    data = invariants.extract()
    assert data["fhirVersion"] == "4.0.1"
    assert "hl7.fhir.r4.core 4.0.1" in data["source"] and "CC0" in data["licence"]


@pytest.mark.parametrize("row", OFFICIAL, ids=[f"{r[2]}@{r[1]}" for r in OFFICIAL])
def test_each_invariant_is_the_official_text(row):
    assert row in extract_rows()


def test_the_extract_holds_nothing_else():
    assert extract_rows() == sorted(OFFICIAL)


def every_invariant():
    seen = {}
    for type_name in invariants.extract()["constraints"]:
        model = invariants._model(type_name)
        if model is None:
            continue
        for inv in invariants.invariants_for(model):
            seen[(inv.key, inv.path)] = inv
        for found in invariants._by_model().values():
            for inv in found:
                seen[(inv.key, inv.path)] = inv
    return seen


def test_every_constraint_of_a_type_sicdoc_accepts_is_checked():
    checked = {key for key, _path in every_invariant()}
    accepted = {
        key
        for type_name, _path, key, _expr in OFFICIAL
        if invariants._model(type_name) is not None and key not in invariants.UNCHECKED
    }
    assert accepted <= checked


@pytest.mark.parametrize("row", OFFICIAL, ids=[f"{r[2]}@{r[1]}" for r in OFFICIAL])
def test_each_expression_compiles_and_holds_on_an_absent_guard(row):
    """fhirpathpy reads every expression; where a guard says "holds when x is absent", it does."""
    _type, path, key, expression = row
    if key in invariants.HAND_CODED or key in invariants.UNCHECKED:
        return
    compiled = invariants.compiled(expression)
    for name in invariants.guard_names(expression):
        node = {"id": "x"}
        base = path.replace("[x]", "")
        result = compiled(ResourceNode.create_node(node, base), {"resource": node, "rootResource": node})
        assert result != [False], (key, name)


# --- written-out checks agree with the official expressions -------------------------------------


def fhirpath_holds(key, node, resource=None, base=None):
    inv = next(i for i in every_invariant().values() if i.key == key)
    resource = resource or node
    return invariants.evaluate(inv, node, resource, resource, base or inv.path)


def hand_holds(key, node, resource=None):
    resource = resource or node
    return invariants.HAND_CODED[key](node, resource, resource) is None


ORG = {"resourceType": "Organization", "id": "o1", "name": "Clinic"}
RESOURCES = [
    {"resourceType": "Patient"},
    {"resourceType": "Patient", "contained": [ORG], "managingOrganization": {"reference": "#o1"}},
    {"resourceType": "Patient", "contained": [{**ORG, "contained": [ORG]}]},
    {"resourceType": "Patient", "contained": [{**ORG, "meta": {"versionId": "2"}}]},
    {"resourceType": "Patient", "contained": [{**ORG, "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}}]},
    {"resourceType": "Patient", "contained": [{**ORG, "meta": {"security": [{"code": "R"}]}}]},
    {"resourceType": "Patient", "contained": [{**ORG, "meta": {"source": "x"}}]},
]


@pytest.mark.parametrize("key", ["dom-2", "dom-4", "dom-5"])
@pytest.mark.parametrize("resource", RESOURCES)
def test_contained_checks_agree_with_fhirpath(key, resource):
    assert hand_holds(key, resource) == fhirpath_holds(key, resource, base="Patient")


REFERENCES = [{"display": "x"}, {"reference": "Patient/1"}, {"reference": "#o1"}, {"reference": "#o2"}]


@pytest.mark.parametrize("reference", REFERENCES)
def test_ref1_agrees_with_fhirpath(reference):
    root = {"resourceType": "Patient", "contained": [ORG]}
    assert hand_holds("ref-1", reference, root) == fhirpath_holds("ref-1", reference, root)


def test_ref1_lets_a_contained_resource_refer_to_its_container():
    """R4 (References: contained resources) makes "#" the container; ref-1's text forgot it."""
    assert hand_holds("ref-1", {"reference": "#"}, {"resourceType": "Patient"})


EXTENSIONS = [
    {"url": "http://x", "valueString": "a"},
    {"url": "http://x", "extension": [{"url": "y", "valueString": "b"}]},
    {"url": "http://x"},
    {"url": "http://x", "valueString": "a", "extension": [{"url": "y", "valueString": "b"}]},
]


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_ext1_agrees_with_fhirpath(extension):
    assert hand_holds("ext-1", extension) == fhirpath_holds("ext-1", extension)


PERIODS = [
    {"start": "2020-01-01", "end": "2020-02-01"},
    {"start": "2020-02-01", "end": "2020-01-01"},
    {"start": "2020-01-01"},
    {"end": "2020-01-01"},
    {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T09:00:00Z"},
    {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T10:00:01Z"},
    {"start": "2020-01", "end": "2020-01-15"},  # different precisions: empty, which passes
]


@pytest.mark.parametrize("period", PERIODS)
def test_per1_agrees_with_fhirpath(period):
    assert hand_holds("per-1", period) == fhirpath_holds("per-1", period)


def test_date_orders_compare_instants_across_time_zones():
    """10:00+02:00 is 08:00Z, before 09:00Z (fhirpathpy compares 10:00 with 09:00); seconds and
    milliseconds are one precision in FHIRPath (fhirpathpy finds 10:00:00Z after 10:00:00.000Z)."""
    assert hand_holds("per-1", {"start": "2020-01-01T10:00:00+02:00", "end": "2020-01-01T09:00:00Z"})
    assert hand_holds("per-1", {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T10:00:00.000Z"})
    assert not hand_holds("per-1", {"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00+02:00"})
    task = {"resourceType": "Task", "status": "draft", "intent": "order"}
    validate_resource(
        {**task, "authoredOn": "2020-01-01T10:00:00+02:00", "lastModified": "2020-01-01T09:00:00Z"}
    )
    late = {**task, "authoredOn": "2020-01-01T10:00:00Z", "lastModified": "2020-01-01T09:00:00Z"}
    assert ("inv-1", "Task") in refusal(late)
    dispense = {
        "resourceType": "MedicationDispense",
        "status": "completed",
        "medicationCodeableConcept": {"text": "x"},
    }
    early = {**dispense, "whenPrepared": "2020-01-02", "whenHandedOver": "2020-01-01"}
    assert ("mdd-1", "MedicationDispense") in refusal(early)
    validate_resource({**dispense, "whenPrepared": "2020-01-01", "whenHandedOver": "2020-01-01"})


def test_dom3_needs_a_reference_to_each_contained_resource_or_one_to_the_container():
    referenced = {"resourceType": "Patient", "contained": [ORG], "managingOrganization": {"reference": "#o1"}}
    unreferenced = {"resourceType": "Patient", "contained": [ORG]}
    back = {
        "resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "o1", "partOf": {"reference": "#"}}],
    }
    twice = {
        "resourceType": "Patient",
        "contained": [ORG, {**ORG, "name": "Other"}],
        "managingOrganization": {"reference": "#o1"},
    }
    assert hand_holds("dom-3", referenced)
    assert hand_holds("dom-3", back)
    assert not hand_holds("dom-3", unreferenced)
    assert not hand_holds("dom-3", twice)


# --- the validator refuses what they forbid, naming the invariant and the element ----------------


def refusal(resource):
    with pytest.raises(InvalidInput) as caught:
        validate_resource(resource)
    return [(i.diagnostics.split(":")[0], i.expression) for i in caught.value.issues]


SUBJECT = {"reference": "Patient/1"}
REFUSED = [
    (
        {"resourceType": "Patient", "contained": [ORG, ORG], "managingOrganization": {"reference": "#o1"}},
        ("dom-3", "Patient.contained[1].id"),
    ),
    ({"resourceType": "Patient", "contained": [ORG]}, ("dom-3", "Patient.contained[0]")),
    (
        {"resourceType": "Patient", "managingOrganization": {"reference": "#o9"}},
        ("ref-1", "Patient.managingOrganization.reference"),
    ),
    (
        {
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": SUBJECT,
            "prediction": [{"probabilityDecimal": 50}, {"probabilityDecimal": 150}],
        },
        ("ras-2", "RiskAssessment.prediction[1]"),
    ),
    (
        {
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": SUBJECT,
            "prediction": [
                {
                    "probabilityRange": {
                        "high": {"value": 5, "system": "http://unitsofmeasure.org", "code": "pct"}
                    }
                }
            ],
        },
        ("ras-1", "RiskAssessment.prediction[0].probabilityRange"),
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueString": "a",
            "dataAbsentReason": {"text": "asked"},
        },
        ("obs-6", "Observation"),
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "referenceRange": [{"type": {"text": "normal"}}],
        },
        ("obs-3", "Observation.referenceRange[0]"),
    ),
    ({"resourceType": "Patient", "contact": [{"gender": "male"}]}, ("pat-1", "Patient.contact[0]")),
    ({"resourceType": "Patient", "extension": [{"url": "http://x"}]}, ("ext-1", "Patient.extension[0]")),
    (
        {"resourceType": "Patient", "name": [{"period": {"start": "2020-02-01", "end": "2020-01-01"}}]},
        ("per-1", "Patient.name[0].period"),
    ),
    ({"resourceType": "Organization", "active": True}, ("org-1", "Organization")),
    (
        {
            "resourceType": "Organization",
            "name": "x",
            "telecom": [{"system": "phone", "value": "1", "use": "home"}],
        },
        ("org-3", "Organization.telecom[0]"),
    ),
    (
        {"resourceType": "Patient", "telecom": [{"value": "555-0100"}]},
        ("cpt-2", "Patient.telecom[0]"),
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueQuantity": {"value": 1, "code": "mg"},
        },
        ("qty-3", "Observation.valueQuantity"),
    ),
    (
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "http://a.example/Patient/1", "resource": {"resourceType": "Patient"}},
                {"fullUrl": "http://a.example/Patient/1", "resource": {"resourceType": "Patient"}},
            ],
        },
        ("bdl-7", "Bundle"),
    ),
    (
        {"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "Patient/1"}]},
        ("Bundle.entry.fullUrl", "Bundle.entry[0].fullUrl"),
    ),
    (
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "http://a.example/Patient/2", "resource": {"resourceType": "Patient", "id": "1"}}
            ],
        },
        ("Bundle.entry.fullUrl", "Bundle.entry[0].fullUrl"),
    ),
    (
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "http://a.example/Patient/1/_history/1", "resource": {"resourceType": "Patient"}}
            ],
        },
        ("bdl-8", "Bundle.entry[0]"),
    ),
    (
        {"resourceType": "Bundle", "type": "collection", "total": 3},
        ("bdl-1", "Bundle"),
    ),
    (
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": "2020-01-01T10:00:00Z",
            "end": "2020-01-01T11:00:00Z",
            "participant": [{"actor": {"display": "Dr. A"}, "status": "accepted"}],
            "cancelationReason": {"text": "snow"},
        },
        ("app-4", "Appointment"),
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "valueString": "high",
            "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}}],
        },
        ("obs-7", "Observation"),
    ),
]


@pytest.mark.parametrize(("resource", "expected"), REFUSED, ids=[e[0] for _r, e in REFUSED])
def test_the_validator_names_the_invariant_and_the_element(resource, expected):
    assert expected in refusal(resource)


def unguarded(monkeypatch):
    """Every constraint evaluated in full: no guard, no remembered outcome."""
    import dataclasses

    full = {}
    original = invariants.invariants_for

    def everything(model):
        if model not in full:
            full[model] = tuple(dataclasses.replace(i, guards=(), reads=None) for i in original(model))
        return full[model]

    monkeypatch.setattr(invariants, "invariants_for", everything)


@pytest.mark.parametrize(("resource", "expected"), REFUSED, ids=[e[0] for _r, e in REFUSED])
def test_guards_and_remembered_outcomes_change_nothing(monkeypatch, resource, expected):
    found = sorted(refusal(resource))
    unguarded(monkeypatch)
    assert sorted(refusal(resource)) == found


def test_contained_resources_are_checked_against_their_container():
    resource = {
        "resourceType": "Patient",
        "contained": [
            {"resourceType": "Organization", "id": "o1", "name": "A", "partOf": {"reference": "#o2"}},
            {"resourceType": "Organization", "id": "o2", "name": "B"},
        ],
        "managingOrganization": {"reference": "#o1"},
    }
    validate_resource(resource)  # o2 is found among the container's contained resources
    broken = copy.deepcopy(resource)
    broken["contained"][0]["partOf"]["reference"] = "#o3"
    assert ("ref-1", "Patient.contained[0].partOf.reference") in refusal(broken)


def test_a_string_of_exactly_1_mb_is_accepted_and_one_more_character_is_not():
    validate_resource({"resourceType": "Patient", "name": [{"family": "x" * (1024 * 1024)}]})
    with pytest.raises(InvalidInput) as caught:
        validate_resource({"resourceType": "Patient", "name": [{"family": "x" * (1024 * 1024 + 1)}]})
    assert caught.value.issues[0].expression == "Patient.name[0].family"
    attachment = {"contentType": "text/plain", "data": "QUJD" * (300 * 1024)}
    validate_resource(
        {"resourceType": "DocumentReference", "status": "current", "content": [{"attachment": attachment}]}
    )


def test_synthea_records_pass_with_every_constraint_evaluated_in_full(monkeypatch):
    """No guard and no remembered outcome hides a violation in the real records."""
    unguarded(monkeypatch)
    for path in synthea_bundles():
        for entry in json.loads(path.read_text())["entry"]:
            validate_resource(entry["resource"])

"""Skills as tools: the ``@skill`` decorator and registry, schemas derived from signatures, user skill loading,
and the primitive skills.

User code imports the public names from here: ``from embodied.skills import SkillContext, SkillResult, skill``.
"""

from embodied.skills.registry import Skill, SkillContext, SkillRegistry, SkillResult, skill

__all__ = ["Skill", "SkillContext", "SkillRegistry", "SkillResult", "skill"]

/* SPDX-License-Identifier: Apache-2.0 */
/* An x86_64 ET_EXEC header as a vmlinux has, for the loader tests. */
#ifndef KRUN_TEST_ELF_FIXTURE_H
#define KRUN_TEST_ELF_FIXTURE_H

#include <elf.h>
#include <string.h>

/* Program headers follow the ELF header; the caller fills them. */
static inline void fill_vmlinux_ehdr(Elf64_Ehdr *eh, uint64_t entry, unsigned int phnum)
{
	memset(eh, 0, sizeof(*eh));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(*eh);
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)phnum;
}

#endif

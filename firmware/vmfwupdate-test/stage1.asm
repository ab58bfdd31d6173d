; Stage 1 of the igvm-mgr vmfwupdate test firmware: the "provider" platform ROM (64 KiB,
; -bios), entered at the reset vector in real mode.
;
; First boot (RAM boot counter = 1): print the stage-1 marker, leave a 1 MiB pattern at 1 MiB,
; build the stage-2 image in RAM (a full 64 KiB platform ROM: zeros plus the assembled stage-2
; top from stage2.bin), put an opaque blob beside it, write an update request into the mailbox
; (struct vmfwupdate, docs/vmfwupdate.md) whose guest-physical address the manager passes in the
; fw-cfg file opt/org.igvm-mgr/vmfwupdate/mailbox-gpa, and reset through the ICH9 reset control
; register (port 0xcf9).
; Later boots (RAM kept by an in-place reset): print the marker with the count, whether the
; manager cleared the request fields, and power off.
;
; Variants (nasm -D): VARIANT_DISABLED sets control.DISABLE beside a valid request;
; VARIANT_BAD_SIZE asks for 48 KiB (not a multiple of 64 KiB); VARIANT_BAD_ADDRESS points the
; image at 2 GiB, beyond the test VM's RAM. VARIANT_NO_REQUEST leaves fw_image_addr at 0.
; VARIANT_LATCH sets DISABLE, waits until the manager has looked (it restores the read-only
; `capabilities` stage 1 zeroed), clears DISABLE and then writes a valid request.
; VARIANT_IGVM hands over stage 2 as an IGVM file instead (FORMAT_IGVM): stage2.igvm, built by
; `igvm-mgr igvm build --platform native` from the 64 KiB stage-2 ROM, copied to IMAGE_ADDR as is.
bits 16
%include "definitions.inc"
org 0                           ; CS base is 0xFFFF0000 at reset: offsets are ROM offsets

; Scratch for the fw-cfg values, in RAM below the stack (the ROM is read-only).
%define capabilities  0x6018
%define rom_size      0x6020
%define BOOT_MAGIC_ADDR   0x6000
%define BOOT_COUNT_ADDR   0x6004
%define BOOT_MAGIC        0x31544f42    ; "BOT1"
%define IMAGE_SEGMENT     0x1000        ; the stage-2 image at GPA 0x10000 (64 KiB)
%define IMAGE_ADDR        0x10000
%define IMAGE_SIZE        0x10000
%define OPAQUE_ADDR       0x8000

%define FORMAT_PLATFORM_ROM_HIGH 2      ; bit 33 of control, in its high dword
%define FORMAT_IGVM_HIGH  1             ; bit 32 of control, in its high dword
%define CTL_DISABLE       1

stage1_start:
    enter_real_mode_environment
    call enter_unreal
    cmp dword [BOOT_MAGIC_ADDR], BOOT_MAGIC
    je .counted_before
    mov dword [BOOT_MAGIC_ADDR], BOOT_MAGIC
    mov word [BOOT_COUNT_ADDR], 0
.counted_before:
    inc word [BOOT_COUNT_ADDR]
    mov si, marker
    call print_cs
    mov al, [BOOT_COUNT_ADDR]
    add al, '0'
    call putc
    mov al, 10
    call putc
    cmp word [BOOT_COUNT_ADDR], 1
    jne later_boot

    ; The mailbox address and the read-only values, from the manager's fw-cfg files.
    call mailbox_address
    jc .no_mailbox
    push edi
    mov si, capabilities_name
    call fwcfg_find
    jc .no_mailbox
    mov di, capabilities
    mov cx, 8
    call fwcfg_read
    mov si, rom_size_name
    call fwcfg_find
    jc .no_mailbox
    mov di, rom_size
    mov cx, 8
    call fwcfg_read

    ; The pattern stage 2 must find unchanged.
    mov edi, PATTERN_ADDR
.pattern:
    mov eax, edi
    xor eax, PATTERN_XOR
    mov [es:edi], eax
    add edi, 4
    cmp edi, PATTERN_ADDR + PATTERN_SIZE
    jb .pattern

%ifdef VARIANT_IGVM
    ; The stage-2 image: the IGVM file, byte for byte.
    mov ax, IMAGE_SEGMENT
    mov es, ax
    xor di, di
    mov si, stage2_igvm
    mov cx, STAGE2_IGVM_LENGTH
.copy_igvm:
    mov al, [cs:si]
    stosb
    inc si
    loop .copy_igvm
%else
    ; The stage-2 image: a 64 KiB platform ROM at IMAGE_ADDR, zeros below its assembled top.
    mov ax, IMAGE_SEGMENT
    mov es, ax
    xor di, di
    xor ax, ax
    mov cx, IMAGE_SIZE / 2
    rep stosw
    mov di, IMAGE_SIZE - STAGE2_LENGTH
    mov si, stage2_top
    mov cx, STAGE2_LENGTH
.copy_stage2:
    mov al, [cs:si]
    stosb
    inc si
    loop .copy_stage2

%endif

    ; The opaque blob for stage 2.
    xor ax, ax
    mov es, ax
    mov di, OPAQUE_ADDR
    mov si, opaque
    mov cx, OPAQUE_LENGTH
.copy_opaque:
    mov al, [cs:si]
    stosb
    inc si
    loop .copy_opaque

    ; The request, through 32-bit addresses (ES has a 4 GiB limit).
    pop edi
%ifdef VARIANT_LATCH
    mov dword [es:edi + MB_CONTROL], CTL_DISABLE
    mov dword [es:edi + MB_CAPABILITIES], 0
    mov dword [es:edi + MB_CAPABILITIES + 4], 0
.wait_for_manager:                  ; the manager restores `capabilities` (format bit 33)
    pause
    cmp dword [es:edi + MB_CAPABILITIES + 4], 0
    je .wait_for_manager
    mov dword [es:edi + MB_CONTROL], 0
    mov si, latch_cleared
    call print_cs
%endif
    mov eax, [capabilities]
    mov [es:edi + MB_CAPABILITIES], eax
    mov eax, [capabilities + 4]
    mov [es:edi + MB_CAPABILITIES + 4], eax
%ifdef VARIANT_DISABLED
    mov dword [es:edi + MB_CONTROL], CTL_DISABLE
%else
    mov dword [es:edi + MB_CONTROL], 0
%endif
%ifdef VARIANT_IGVM
    mov dword [es:edi + MB_CONTROL + 4], FORMAT_IGVM_HIGH
%else
    mov dword [es:edi + MB_CONTROL + 4], FORMAT_PLATFORM_ROM_HIGH
%endif
    mov eax, [rom_size]
    mov [es:edi + MB_ROM_SIZE], eax
    mov eax, [rom_size + 4]
    mov [es:edi + MB_ROM_SIZE + 4], eax
%ifdef VARIANT_NO_REQUEST
    mov dword [es:edi + MB_IMAGE_ADDR], 0
%elifdef VARIANT_BAD_ADDRESS
    mov dword [es:edi + MB_IMAGE_ADDR], 0x80000000
%else
    mov dword [es:edi + MB_IMAGE_ADDR], IMAGE_ADDR
%endif
    mov dword [es:edi + MB_IMAGE_ADDR + 4], 0
%ifdef VARIANT_BAD_SIZE
    mov dword [es:edi + MB_IMAGE_SIZE], 0xc000
%elifdef VARIANT_IGVM
    mov dword [es:edi + MB_IMAGE_SIZE], STAGE2_IGVM_LENGTH
%else
    mov dword [es:edi + MB_IMAGE_SIZE], IMAGE_SIZE
%endif
    mov dword [es:edi + MB_IMAGE_SIZE + 4], 0
    mov dword [es:edi + MB_OPAQUE_ADDR], OPAQUE_ADDR
    mov dword [es:edi + MB_OPAQUE_ADDR + 4], 0
    mov dword [es:edi + MB_OPAQUE_SIZE], OPAQUE_LENGTH
    mov dword [es:edi + MB_OPAQUE_SIZE + 4], 0

    mov si, resetting
    call print_cs
    mov dx, 0xcf9               ; ICH9 reset control: SYS_RST | RST_CPU = full reset
    mov al, 0x02
    out dx, al
    mov al, 0x06
    out dx, al
.wait_for_reset:
    hlt
    jmp .wait_for_reset

.no_mailbox:
    mov si, no_mailbox
    call print_cs
    jmp poweroff

; After a reset in place the manager must have cleared the request: control, fw_image_addr and
; fw_image_size read zero.
later_boot:
    call mailbox_address
    jc poweroff
    mov si, request_cleared
    mov eax, [es:edi + MB_CONTROL]
    or eax, [es:edi + MB_CONTROL + 4]
    or eax, [es:edi + MB_IMAGE_ADDR]
    or eax, [es:edi + MB_IMAGE_ADDR + 4]
    or eax, [es:edi + MB_IMAGE_SIZE]
    or eax, [es:edi + MB_IMAGE_SIZE + 4]
    jz .print
    mov si, request_left
.print:
    call print_cs
    jmp poweroff

%include "routines.inc"


marker:            db "igvm-mgr-test: stage1 boot ", 0
resetting:         db "igvm-mgr-test: stage1 requested update, resetting", 10, 0
no_mailbox:        db "igvm-mgr-test: stage1 found no usable mailbox", 10, 0
request_cleared:   db "igvm-mgr-test: stage1 mailbox request fields read zero", 10, 0
request_left:      db "igvm-mgr-test: stage1 mailbox request fields NOT cleared", 10, 0
latch_cleared:     db "igvm-mgr-test: stage1 set DISABLE, manager looked, DISABLE cleared", 10, 0
capabilities_name: db "etc/vmfwupdate/cap", 0
rom_size_name:     db "etc/vmfwupdate/bios-size", 0
opaque:            db "handed-over-by-stage1"
OPAQUE_LENGTH      equ $ - opaque

stage2_top:
    incbin "stage2.bin"
%if ($ - stage2_top) != STAGE2_LENGTH
    %error "stage2.bin must be exactly STAGE2_LENGTH bytes"
%endif

%ifdef VARIANT_IGVM
stage2_igvm:
    incbin "stage2.igvm"
STAGE2_IGVM_LENGTH equ $ - stage2_igvm
%endif

    times 0xfff0 - ($ - $$) db 0
reset_vector:                   ; CS:IP = F000:FFF0 at reset (linear 0xFFFFFFF0)
    jmp near stage1_start
    times 0x10000 - ($ - $$) db 0
